"""A small OpenAI-compatible HTTP server on loopback, standing in for api.openai.com.

Answers `POST /v1/chat/completions` and `POST /v1/embeddings` with bodies shaped like the
real API's (usage with cached and reasoning token details, a dated `model`), and records
every request it received so tests can check what the client sent.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.support.loopback import LoopbackServer, StubHandler

EMBEDDING = (0.0125, -0.025, 0.05)


@dataclass(frozen=True)
class ChatUsage:
    """What the stub reports for every chat completion (OpenAI's inclusive counting:
    `prompt_tokens` includes `cached_tokens`, `completion_tokens` includes reasoning)."""

    prompt_tokens: int = 1234
    completion_tokens: int = 321
    cached_tokens: int = 1024
    reasoning_tokens: int = 64
    model: str = "gpt-4o-2024-08-06"


@dataclass(frozen=True)
class EmbeddingUsage:
    prompt_tokens: int = 17
    model: str = "text-embedding-3-small"


@dataclass
class OpenAIStub:
    """`with OpenAIStub() as stub:` serves on `stub.base_url` until the block ends."""

    chat: ChatUsage = field(default_factory=ChatUsage)
    embedding: EmbeddingUsage = field(default_factory=EmbeddingUsage)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _loopback: LoopbackServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        assert self._loopback is not None, "stub not started"
        return f"{self._loopback.origin}/v1"

    def __enter__(self) -> OpenAIStub:
        self._loopback = LoopbackServer(_handler(self), "openai-stub").start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loopback is not None:
            self._loopback.stop()

    def record(self, path: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append((path, body))

    def chat_completion(self, request: dict[str, Any]) -> dict[str, Any]:
        usage = self.chat
        return {
            "id": f"chatcmpl-stub{len(self.requests):04d}",
            "object": "chat.completion",
            "created": 1_767_225_600,
            "model": usage.model,
            "system_fingerprint": "fp_stub",
            "service_tier": "default",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Your order shipped yesterday.",
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.prompt_tokens + usage.completion_tokens,
                "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": usage.reasoning_tokens,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
        }

    def embeddings(self, request: dict[str, Any]) -> dict[str, Any]:
        inputs = request.get("input")
        count = len(inputs) if isinstance(inputs, list) else 1
        usage = self.embedding
        vector: list[float] | str = list(EMBEDDING)
        if request.get("encoding_format") == "base64":  # what the openai client asks for
            vector = base64.b64encode(struct.pack(f"<{len(EMBEDDING)}f", *EMBEDDING)).decode()
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": n, "embedding": vector} for n in range(count)
            ],
            "model": usage.model,
            "usage": {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.prompt_tokens},
        }


def _handler(stub: OpenAIStub) -> type[StubHandler]:
    class Handler(StubHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                error = {"message": "invalid JSON", "type": "invalid_request"}
                self.send_json(400, {"error": error})
                return
            stub.record(self.path, body)
            if self.path == "/v1/chat/completions":
                self.send_json(200, stub.chat_completion(body))
            elif self.path == "/v1/embeddings":
                self.send_json(200, stub.embeddings(body))
            else:
                self.send_json(404, {"error": {"message": f"no route {self.path}", "type": "stub"}})

    return Handler
