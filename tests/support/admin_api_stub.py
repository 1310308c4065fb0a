"""A real HTTP server on loopback standing in for the OpenAI and Anthropic admin APIs: the
usage and cost report paths, their authentication headers, pagination by `page` (the
`next_page` of the previous page), and scripted failures (429 with Retry-After, 5xx) that
answer the next requests in order before the pages do. Every request is recorded."""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sample_data.bills import dumps
from sample_data.harness.alert_receivers import reply
from sample_data.harness.server import free_port

PATHS = {
    "openai": {
        "/v1/organization/usage/completions": "usage",
        "/v1/organization/costs": "costs",
    },
    "anthropic": {
        "/v1/organizations/usage_report/messages": "usage",
        "/v1/organizations/cost_report": "costs",
    },
}
Answer = tuple[int, dict[str, str], str]  # status, headers, body


def openai_error(status: int, message: str, kind: str) -> Answer:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return status, {"Content-Type": "application/json"}, json.dumps(body)


def anthropic_error(status: int, message: str, kind: str) -> Answer:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return status, {"Content-Type": "application/json"}, json.dumps(body)


class AdminApiStub:
    def __init__(self, source: str, key: str, pages: dict[str, list[Any]]) -> None:
        self.source = source
        self.key = key
        self.pages = pages  # "usage" / "costs" -> the pages, in order
        self.port = free_port()
        self.requests: list[dict[str, Any]] = []
        self.script: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, *answers: Answer) -> None:
        self.script.extend(answers)

    def _authorized(self, headers: Any) -> bool:
        if self.source == "openai":
            return bool(headers.get("Authorization") == f"Bearer {self.key}")
        return headers.get("x-api-key") == self.key and bool(headers.get("anthropic-version"))

    def _answer(self, path: str, query: dict[str, list[str]], headers: Any) -> Answer:
        error = openai_error if self.source == "openai" else anthropic_error
        with self._lock:
            if self.script:
                return self.script.popleft()
        if not self._authorized(headers):
            return error(401, "invalid x-api-key or admin key", "authentication_error")
        part = PATHS[self.source].get(path)
        if part is None:
            return error(404, f"no route {path}", "not_found_error")
        pages = self.pages[part]
        cursor = (query.get("page") or [None])[0]
        number = 1 if cursor is None else int(cursor.removeprefix("page_"))
        if not 1 <= number <= len(pages):
            return error(400, f"invalid page {cursor!r}", "invalid_request_error")
        return 200, {"Content-Type": "application/json"}, dumps(pages[number - 1]).decode()

    def __enter__(self) -> AdminApiStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                with stub._lock:
                    stub.requests.append(
                        {"path": parts.path, "query": query, "headers": dict(self.headers)}
                    )
                status, headers, text = stub._answer(parts.path, query, self.headers)
                reply(self, status, text, headers)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
