"""Token details read from a provider's raw usage object that some emitters attach as JSON.

Logfire sends the provider's usage object as `gen_ai.usage.raw` and nothing else beyond input
and output; the Vercel AI SDK v5 sends Anthropic cache writes only inside
`ai.response.providerMetadata`; OpenInference records the whole response body as
`output.value` and the request's parameters as `llm.invocation_parameters`. They carry what no
first-class attribute does: Anthropic's 1-hour cache writes
(`cache_creation.ephemeral_1h_input_tokens`), the service tier of the response and of the
request, web search requests. The JSON is supplementary: a blob longer than `MAX_RAW_JSON`
characters is not parsed (it is a response body with a long answer: the tier and TTL are then
unknown, and flagged as such downstream), and a blob that does not parse, or a count that is
not a whole non-negative number, is ignored rather than rejecting the span.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from collector.ingest.rejections import SpanRejected
from collector.ingest.usage import MAX_TOKENS, to_int

# Longest JSON text parsed for its usage details (characters): a usage object or provider
# metadata is well under 1 KiB, a response body a few KiB; parsing runs on the ingest hot path.
MAX_RAW_JSON = 65_536


@dataclass(slots=True)
class RawDetails:
    """What a raw usage object says beyond input and output (None: not said)."""

    cache_read: int | None = None
    cache_write: int | None = None
    cache_write_1h: int | None = None
    reasoning: int | None = None
    input_audio: int | None = None
    output_audio: int | None = None
    input_image: int | None = None
    service_tier: str | None = None  # the response's
    web_search_calls: int | None = None
    request_tier: str | None = None  # the tier the request asked for


def _object(raw: Any) -> dict[str, Any] | None:
    """The JSON object `raw` holds (a dict: parsed JSON, or a map attribute), else None."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str | bytes) and len(raw) <= MAX_RAW_JSON:
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def _count(node: Any, *path: str) -> int | None:
    # `dict`, not `Mapping`: `_object` gives dicts, and the ABC check costs on the hot path.
    for step in path:
        if not isinstance(node, dict):
            return None
        node = node.get(step)
        if node is None:
            return None
    if type(node) is int and 0 <= node <= MAX_TOKENS:
        return node
    try:
        return to_int(node, ".".join(path))
    except SpanRejected:
        return None


def _first(node: Any, *paths: tuple[str, ...]) -> int | None:
    for path in paths:
        value = _count(node, *path)
        if value is not None:
            return value
    return None


def _usage_object(usage: Mapping[str, Any], details: RawDetails) -> None:
    """An Anthropic, OpenAI Chat or OpenAI Responses usage object (or Bedrock Converse)."""
    details.cache_read = _first(
        usage,
        ("cache_read_input_tokens",),
        ("prompt_tokens_details", "cached_tokens"),
        ("input_tokens_details", "cached_tokens"),
        ("cacheReadInputTokens",),
    )
    one_hour = _count(usage, "cache_creation", "ephemeral_1h_input_tokens")
    five_minutes = _count(usage, "cache_creation", "ephemeral_5m_input_tokens")
    details.cache_write = _first(
        usage, ("cache_creation_input_tokens",), ("cacheWriteInputTokens",)
    )
    if details.cache_write is None and (one_hour is not None or five_minutes is not None):
        details.cache_write = (one_hour or 0) + (five_minutes or 0)
    details.cache_write_1h = one_hour
    details.reasoning = _first(
        usage,
        ("completion_tokens_details", "reasoning_tokens"),
        ("output_tokens_details", "reasoning_tokens"),
        ("output_tokens_details", "thinking_tokens"),
    )
    details.input_audio = _count(usage, "prompt_tokens_details", "audio_tokens")
    details.output_audio = _count(usage, "completion_tokens_details", "audio_tokens")
    details.input_image = _count(usage, "prompt_tokens_details", "image_tokens")
    details.web_search_calls = _count(usage, "server_tool_use", "web_search_requests")
    details.service_tier = _text(usage, "service_tier")


def _text(node: Mapping[str, Any], key: str) -> str | None:
    value = node.get(key)
    return value if isinstance(value, str) else None


def logfire_raw(raw: Any) -> RawDetails | None:
    """Logfire's `gen_ai.usage.raw`: the provider's usage object, dumped as is."""
    usage = _object(raw)
    if usage is None:
        return None
    details = RawDetails()
    _usage_object(usage, details)
    return details


def vercel_metadata(raw: Any) -> RawDetails | None:
    """The Vercel AI SDK's `ai.response.providerMetadata`, keyed by provider."""
    metadata = _object(raw)
    if metadata is None:
        return None
    details = RawDetails()
    if isinstance(anthropic := metadata.get("anthropic"), Mapping):
        if isinstance(usage := anthropic.get("usage"), Mapping):
            _usage_object(usage, details)
        if details.cache_write is None:
            details.cache_write = _count(anthropic, "cacheCreationInputTokens")
    elif isinstance(bedrock := metadata.get("bedrock"), Mapping):
        if isinstance(usage := bedrock.get("usage"), Mapping):
            _usage_object(usage, details)
    elif isinstance(openai := metadata.get("openai"), Mapping):
        details.cache_read = _count(openai, "cachedPromptTokens")
        details.reasoning = _count(openai, "reasoningTokens")
        details.service_tier = _text(openai, "serviceTier")
    elif isinstance(google := metadata.get("google"), Mapping):
        usage = google.get("usageMetadata")
        details.cache_read = _count(usage, "cachedContentTokenCount")
        details.reasoning = _count(usage, "thoughtsTokenCount")
    return details


def openinference_raw(output: Any, invocation: Any) -> RawDetails | None:
    """OpenInference's `output.value` (the OpenAI or Anthropic response body; absent or not
    JSON when outputs are hidden) and `llm.invocation_parameters` (the request's parameters,
    with its `service_tier`)."""
    body, parameters = _object(output), _object(invocation)
    if body is None and parameters is None:
        return None
    details = RawDetails()
    if body is not None:
        if isinstance(usage := body.get("usage"), dict):
            _usage_object(usage, details)  # Anthropic's tier is in its usage object
        details.service_tier = _text(body, "service_tier") or details.service_tier
    if parameters is not None:
        details.request_tier = _text(parameters, "service_tier")
    return details
