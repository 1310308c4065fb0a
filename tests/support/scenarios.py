"""The model calls of tests/e2e/test_billed_as_priced.py, by name: what each response says
(model, service tier, and a usage block exactly as the provider reports it: OpenAI's
`prompt_tokens` includes `cached_tokens` and `audio_tokens`, `completion_tokens` includes
reasoning and audio; Anthropic's `input_tokens` excludes cache reads and writes, the writes
split by TTL in `cache_creation`).

The standard library only: the instrumented application imports it in the venvs of its own
(.venv-openlit; tests/support/instrumented_calls.py), the loopback stub that answers with it
(tests/support/provider_stub.py) in the project's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Api = Literal["chat", "responses", "messages"]
ANSWER = ("Your order ", "shipped yesterday.")
SCENARIO_HEADER = "x-stub-scenario"


@dataclass(frozen=True)
class Scenario:
    """One model call: what the response says (model, tier, usage in the provider's shape)."""

    name: str
    api: Api
    model: str
    service_tier: str
    usage: dict[str, Any]
    stream: bool = False

    @property
    def provider(self) -> str:
        return "anthropic" if self.api == "messages" else "openai"

    @property
    def request_tier(self) -> str:
        """What the application asks for: OpenAI's `service_tier` request parameter ("auto"
        lets the project default apply, which the response reports as "default")."""
        return "auto" if self.service_tier in ("default", "standard") else self.service_tier


def chat_usage(
    prompt: int, completion: int, *, cached: int = 0, reasoning: int = 0, audio_in: int = 0,
    audio_out: int = 0,
) -> dict[str, Any]:  # fmt: skip
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": audio_in},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": audio_out,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def responses_usage(inputs: int, output: int, *, cached: int, reasoning: int) -> dict[str, Any]:
    return {
        "input_tokens": inputs,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": inputs + output,
    }


def messages_usage(
    uncached: int, output: int, *, read: int, write_5m: int, write_1h: int
) -> dict[str, Any]:
    return {
        "input_tokens": uncached,
        "cache_creation_input_tokens": write_5m + write_1h,
        "cache_read_input_tokens": read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": write_5m,
            "ephemeral_1h_input_tokens": write_1h,
        },
        "output_tokens": output,
        "service_tier": "standard",
    }


GPT5 = "gpt-5-2025-08-07"
SONNET = "claude-sonnet-4-5-20250929"
_CHAT_TIERED = chat_usage(12_000, 900, cached=8_192, reasoning=512)
_RESPONSES = responses_usage(20_000, 1_500, cached=16_384, reasoning=1_024)
_WRITES_BOTH = messages_usage(1_200, 800, read=30_000, write_5m=2_000, write_1h=4_000)
# Every call the tests make, by name; the usages differ so that a mix-up shows.
SCENARIOS = {
    s.name: s
    for s in (
        Scenario("chat-default", "chat", GPT5, "default", chat_usage(3_000, 400, cached=1_024)),
        Scenario("chat-flex", "chat", GPT5, "flex", _CHAT_TIERED),
        Scenario("chat-priority", "chat", GPT5, "priority", _CHAT_TIERED),
        Scenario("chat-priority-stream", "chat", GPT5, "priority", _CHAT_TIERED, stream=True),
        Scenario(
            "chat-audio",
            "chat",
            "gpt-audio-2025-08-28",
            "default",
            chat_usage(1_800, 700, audio_in=1_500, audio_out=600),
        ),
        Scenario("responses-flex", "responses", GPT5, "flex", _RESPONSES),
        Scenario("responses-priority-stream", "responses", GPT5, "priority", _RESPONSES, True),
        Scenario(
            "messages-cache-5m",
            "messages",
            SONNET,
            "standard",
            messages_usage(2_500, 600, read=24_000, write_5m=3_000, write_1h=0),
        ),
        # More uncached input than cached: an exclusive input_tokens is not recognisable
        # by its size here (OpenLIT's Anthropic spans).
        Scenario(
            "messages-mostly-uncached",
            "messages",
            SONNET,
            "standard",
            messages_usage(40_000, 900, read=8_000, write_5m=2_000, write_1h=0),
        ),
        Scenario("messages-cache-1h", "messages", SONNET, "standard", _WRITES_BOTH),
        Scenario("messages-cache-1h-stream", "messages", SONNET, "standard", _WRITES_BOTH, True),
        # LangChain's ChatOpenAI over the openai client (a framework layer over the client).
        # At the default tier: a framework span counted twice must show as twice the bill.
        Scenario(
            "langchain-chat",
            "chat",
            GPT5,
            "default",
            chat_usage(7_000, 600, cached=2_048, reasoning=256),
        ),
        Scenario(
            "langchain-chat-stream",
            "chat",
            GPT5,
            "default",
            chat_usage(5_000, 300, cached=4_096),
            stream=True,
        ),
    )
}
