"""Real HTTP servers on loopback that answer like Slack incoming webhooks and the PagerDuty
Events API v2, for the delivery tests: they record every request and answer from a script
(success when the script is empty), can answer late (`delay`: after the client's timeout, or
never, like a hung service) and can go down and come back up on the same port."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from sample_data.harness.server import free_port

Flavour = Literal["slack", "pagerduty", "webhook"]
Answer = tuple[int, str, dict[str, str]]  # status, body, headers


def success(flavour: Flavour, body: dict[str, Any]) -> Answer:
    if flavour == "slack":
        return 200, "ok", {"Content-Type": "text/html"}
    if flavour == "pagerduty":
        answer = {
            "status": "success",
            "message": "Event processed",
            "dedup_key": body.get("dedup_key"),
        }
        return 202, json.dumps(answer), {"Content-Type": "application/json"}
    return 204, "", {}


def failure(flavour: Flavour, status: int, retry_after: str | None = None) -> Answer:
    """What the real service answers with that status."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    if flavour == "pagerduty":
        text = {
            400: '{"status":"invalid event","message":"Event object is invalid","errors":["x"]}',
            429: '{"status":"throttle exceeded","message":"Requests are arriving too quickly."}',
        }.get(status, '{"status":"error"}')
        return status, text, {"Content-Type": "application/json", **headers}
    text = {400: "invalid_payload", 404: "channel_not_found", 429: "rate_limited"}.get(
        status, "rollup_error"
    )
    return status, text, {"Content-Type": "text/html", **headers}


def reply(handler: BaseHTTPRequestHandler, status: int, text: str, headers: dict[str, str]) -> None:
    """Answer the request `handler` holds: status, headers, the body with its length."""
    data = text.encode()
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class Receiver:
    """One stand-in service. `script` answers the next requests in order; `echo_path` makes
    an error answer quote the request path (as a proxy error page might); `delay` is how long
    it takes to answer (the request is recorded when it arrives), cut short by `down()`."""

    def __init__(self, flavour: Flavour) -> None:
        self.flavour = flavour
        self.port = free_port()
        self.requests: list[dict[str, Any]] = []
        self.script: deque[Answer] = deque()
        self.echo_path = False
        self.delay = 0.0
        self._released = threading.Event()  # set by down(): late answers stop waiting
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, *answers: Answer) -> None:
        self.script.extend(answers)

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r["json"] for r in self.requests]

    def header(self, name: str) -> list[str | None]:
        """The value of one request header in each request received, in order."""
        with self._lock:
            return [
                next((v for k, v in r["headers"].items() if k.lower() == name.lower()), None)
                for r in self.requests
            ]

    def up(self) -> Receiver:
        receiver = self
        self._released.clear()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                body = json.loads(raw) if raw else None
                with receiver._lock:
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "json": body,
                            "at": time.monotonic(),
                        }
                    )
                    scripted = receiver.script.popleft() if receiver.script else None
                status, text, headers = scripted or success(receiver.flavour, body or {})
                if receiver.delay and receiver._released.wait(receiver.delay):
                    return  # gone down meanwhile: close without an answer
                if receiver.echo_path and status >= 400:
                    text = f"{text} at {self.path}"
                # A late answer may find the client gone: it stopped waiting.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    reply(self, status, text, headers)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        """Stop listening: connections are refused until `up()`."""
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
