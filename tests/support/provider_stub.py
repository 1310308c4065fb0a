"""OpenAI and Anthropic on loopback: one HTTP server answering `POST /v1/chat/completions`,
`POST /v1/responses` and `POST /v1/messages` in each API's real response shape, streamed
(server-sent events, as the real APIs send them) when the request says `stream: true`.

Which usage an answer carries is a named `Scenario` (tests/support/scenarios.py), chosen by
the request header `x-stub-scenario` (clients send it through `default_headers`).
`billed_usd` prices a scenario as the provider bills it.

Shapes follow the providers' API references (platform.openai.com/docs/api-reference/chat,
/responses and /responses-streaming; docs.anthropic.com/en/api/messages and
/en/docs/build-with-claude/streaming).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from genai_prices import Usage, calc_price, extract_usage

from tests.support.loopback import LoopbackServer, StubHandler
from tests.support.scenarios import ANSWER, SCENARIO_HEADER, SCENARIOS, Api, Scenario

CREATED = 1_767_225_600

# What the providers publish for their tiers, relative to the standard (list) price:
# OpenAI https://platform.openai.com/docs/pricing ("Flex" and "Batch" tables: half the
# standard rates; "Priority" table: gpt-5 $2.50 / $0.25 cached / $20.00 output per MTok,
# twice the standard $1.25 / $0.125 / $10.00; priority is priced per model, this table lists
# only the models the scenarios use). Anthropic https://docs.anthropic.com/en/docs/about-claude/pricing
# (Batch: 50%; the Priority Tier is a commitment contract without a published rate).
TIER_MULTIPLIERS: dict[tuple[str, str, str], Decimal] = {
    ("openai", "*", "default"): Decimal(1),
    ("openai", "*", "flex"): Decimal("0.5"),
    ("openai", "*", "batch"): Decimal("0.5"),
    ("openai", "gpt-5", "priority"): Decimal(2),
    ("anthropic", "*", "standard"): Decimal(1),
    ("anthropic", "*", "batch"): Decimal("0.5"),
}


def billed_usage(scenario: Scenario) -> Usage:
    """The usage as genai-prices reads the provider's own response body."""
    flavor = {"chat": "chat", "responses": "responses", "messages": "default"}[scenario.api]
    body = {"model": scenario.model, "usage": scenario.usage}
    return extract_usage(body, provider_id=scenario.provider, api_flavor=flavor).usage


def billed_usd(scenario: Scenario) -> Decimal:
    """What the provider bills for the scenario's call: the list price of its usage
    (genai-prices `calc_price`) times the provider's published tier multiplier."""
    price = calc_price(billed_usage(scenario), scenario.model, provider_id=scenario.provider)
    tier = scenario.service_tier
    multiplier = TIER_MULTIPLIERS.get((scenario.provider, price.model.id, tier))
    if multiplier is None:
        multiplier = TIER_MULTIPLIERS[(scenario.provider, "*", tier)]
    return price.total_price * multiplier


def _openai_message(scenario: Scenario) -> dict[str, Any]:
    if scenario.usage["completion_tokens_details"]["audio_tokens"]:
        audio = {"id": "audio_stub", "data": "UklGRg==", "expires_at": CREATED + 3600}
        return {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "annotations": [],
            "audio": audio | {"transcript": "".join(ANSWER)},
        }
    return {"role": "assistant", "content": "".join(ANSWER), "refusal": None, "annotations": []}


def chat_completion(scenario: Scenario) -> dict[str, Any]:
    choice = {
        "index": 0,
        "message": _openai_message(scenario),
        "logprobs": None,
        "finish_reason": "stop",
    }
    return _chat_envelope(scenario, "chat.completion") | {
        "choices": [choice],
        "usage": scenario.usage,
    }


def _chat_envelope(scenario: Scenario, kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{scenario.name}",
        "object": kind,
        "created": CREATED,
        "model": scenario.model,
        "service_tier": scenario.service_tier,
        "system_fingerprint": "fp_stub",
    }


def chat_chunks(scenario: Scenario, include_usage: bool) -> Iterator[tuple[str | None, Any]]:
    """A streamed chat completion: deltas, the finish, then (when the request asked with
    `stream_options.include_usage`) a last chunk with no choices and the usage."""
    head = _chat_envelope(scenario, "chat.completion.chunk")
    deltas = [{"role": "assistant", "content": "", "refusal": None}] + [
        {"content": part} for part in ANSWER
    ]
    for delta in deltas:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        yield None, head | {"choices": [choice], "usage": None}
    finish = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    yield None, head | {"choices": [finish], "usage": None}
    if include_usage:
        yield None, head | {"choices": [], "usage": scenario.usage}
    yield None, "[DONE]"


def response_object(scenario: Scenario, *, done: bool = True) -> dict[str, Any]:
    text = {"type": "output_text", "text": "".join(ANSWER), "annotations": [], "logprobs": []}
    message = {
        "type": "message",
        "id": "msg_stub",
        "status": "completed",
        "role": "assistant",
        "content": [text],
    }
    return {
        "id": f"resp_{scenario.name}",
        "object": "response",
        "created_at": CREATED,
        "status": "completed" if done else "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": scenario.model,
        "output": [{"type": "reasoning", "id": "rs_stub", "summary": []}, message] if done else [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": "medium", "summary": None},
        "service_tier": scenario.service_tier if done else scenario.request_tier,
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": scenario.usage if done else None,
        "metadata": {},
    }


def response_events(scenario: Scenario) -> Iterator[tuple[str | None, Any]]:
    """A streamed Responses API call: typed events, the usage only in `response.completed`."""
    item = {"type": "message", "id": "msg_stub", "status": "in_progress", "role": "assistant"}
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    located = {"item_id": "msg_stub", "output_index": 1, "content_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response_object(scenario, done=False)},
        {"type": "response.output_item.added", "output_index": 1, "item": item | {"content": []}},
        {"type": "response.content_part.added", **located, "part": part},
        *(
            {"type": "response.output_text.delta", **located, "delta": d, "logprobs": []}
            for d in ANSWER
        ),
        {"type": "response.output_text.done", **located, "text": "".join(ANSWER), "logprobs": []},
        {"type": "response.completed", "response": response_object(scenario)},
    ]
    for number, event in enumerate(events):
        yield event["type"], event | {"sequence_number": number}


def message(scenario: Scenario) -> dict[str, Any]:
    return {
        "id": f"msg_{scenario.name}",
        "type": "message",
        "role": "assistant",
        "model": scenario.model,
        "content": [{"type": "text", "text": "".join(ANSWER)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": scenario.usage,
    }


def message_events(scenario: Scenario) -> Iterator[tuple[str | None, Any]]:
    """A streamed Anthropic message: the input usage in `message_start` (output_tokens 1
    so far), the cumulative counts in `message_delta` (the SDK's `MessageDeltaUsage`:
    "the cumulative number of ... tokens"), without the TTL split."""
    start = message(scenario) | {"content": [], "stop_reason": None}
    start["usage"] = scenario.usage | {"output_tokens": 1}
    yield "message_start", {"type": "message_start", "message": start}
    block = {"type": "text", "text": ""}
    yield "content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}
    for text in ANSWER:
        delta = {"type": "text_delta", "text": text}
        yield "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    end = {"stop_reason": "end_turn", "stop_sequence": None}
    keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    usage = {key: scenario.usage[key] for key in (*keys, "output_tokens")}
    yield "message_delta", {"type": "message_delta", "delta": end, "usage": usage}
    yield "message_stop", {"type": "message_stop"}


@dataclass
class ProviderStub:
    """`with ProviderStub() as stub:` serves both APIs on `stub.url` until the block ends;
    `stub.requests` is every (path, scenario name, body) received."""

    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    _loopback: LoopbackServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """The base URL of the Anthropic client; the OpenAI client's is `url + "/v1"`."""
        assert self._loopback is not None, "stub not started"
        return self._loopback.origin

    def __enter__(self) -> ProviderStub:
        self._loopback = LoopbackServer(_handler(self), "provider-stub").start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loopback is not None:
            self._loopback.stop()

    def record(self, path: str, scenario: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append((path, scenario, body))


ROUTES: dict[str, Api] = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/messages": "messages",
}


def _answer(scenario: Scenario, body: dict[str, Any]) -> dict[str, Any] | Iterator[Any]:
    """The JSON body, or the events of a stream, for a request to the scenario's API."""
    if scenario.api == "chat":
        if body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            return chat_chunks(scenario, include)
        return chat_completion(scenario)
    if scenario.api == "responses":
        return response_events(scenario) if body.get("stream") else response_object(scenario)
    return message_events(scenario) if body.get("stream") else message(scenario)


def _handler(stub: ProviderStub) -> type[StubHandler]:
    class Handler(StubHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            name = self.headers.get(SCENARIO_HEADER, "")
            stub.record(self.path, name, body)
            scenario = SCENARIOS.get(name)
            if scenario is None or ROUTES.get(self.path) != scenario.api:
                error = {"type": "invalid_request_error", "message": f"{self.path} {name!r}"}
                self.send_json(400, {"type": "error", "error": error})
                return
            answer = _answer(scenario, body)
            if isinstance(answer, dict):
                self.send_json(200, answer)
            else:
                self._send_events(answer)

        def _send_events(self, events: Iterator[tuple[str | None, Any]]) -> None:
            lines = []
            for event, data in events:
                text = data if isinstance(data, str) else json.dumps(data)
                lines.append((f"event: {event}\n" if event else "") + f"data: {text}\n\n")
            self.send_body(200, "text/event-stream", "".join(lines).encode())

    return Handler
