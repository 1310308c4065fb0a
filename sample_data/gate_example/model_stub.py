"""An OpenAI-compatible chat endpoint on loopback whose usage follows the request: about one
token per four characters of prompt, a cached prefix when the system prompt repeats (as
OpenAI's automatic prompt caching does past 1,024 tokens), and an answer whose length varies
from call to call as a model's does. `python -m sample_data.gate_example.model_stub` serves
until stopped and prints its base URL."""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CACHE_MINIMUM_TOKENS = 1024
CACHE_BLOCK_TOKENS = 128


def usage_for(
    request: dict[str, Any], seen_prefixes: set[str], rng: random.Random
) -> dict[str, Any]:
    """The usage a model would bill for `request`; remembers system prompts in `seen_prefixes`."""
    messages = request.get("messages") or []
    text = "".join(str(message.get("content", "")) for message in messages)
    prompt_tokens = max(1, len(text) // 4)
    system = "".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
    system_tokens = len(system) // 4
    cached = 0
    if system in seen_prefixes and system_tokens >= CACHE_MINIMUM_TOKENS:
        cached = system_tokens // CACHE_BLOCK_TOKENS * CACHE_BLOCK_TOKENS
    seen_prefixes.add(system)
    completion = max(5, int(rng.gauss(120, 30)))
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


class ModelStub:
    """`with ModelStub() as stub:` serves on `stub.base_url` until the block ends."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.seen_prefixes: set[str] = set()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> ModelStub:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            usage = usage_for(request, self.seen_prefixes, self.rng)
        model = str(request.get("model", "gpt-4o"))
        return {
            "id": "chatcmpl-gate",
            "object": "chat.completion",
            "created": 1_767_225_600,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Done.", "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }


def _handler(stub: ModelStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                body = None
            if not isinstance(body, dict) or not self.path.endswith("/chat/completions"):
                self._send(400, {"error": {"message": "expected a chat completion request"}})
                return
            self._send(200, stub.answer(body))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
