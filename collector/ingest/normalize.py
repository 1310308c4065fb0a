"""Map the attribute names of the GenAI conventions and instrumentations onto one record.

The input is a span's attributes as a plain dict (both the protobuf and the JSON decoder
produce that); the output is the model-call fields, the attribution dimensions, and the
attributes that were not mapped. One pass over the attributes, one dict lookup per key:
this runs for every span on the ingest hot path.

The rules (documented in docs/normalization.md; the key tables are in
`collector.ingest.conventions`, the token and cost arithmetic in `collector.ingest.usage`):
- Each concept has a priority-ordered list of keys; the first present wins. A key may serve
  several concepts (a configured feature or tenant key can also be, say, the agent name).
- Input tokens are stored inclusive of cache reads and writes, output tokens inclusive of
  reasoning tokens. Whether the instrumentation sent them so is a rule of the emitter, found
  by its instrumentation scope name (and provider) in `collector.ingest.emitters`; for an
  unknown scope the counts decide and the guess is recorded in `pricing_assumption`.
  Langfuse's `usage_details` are disjoint usage types and are summed.
- Audio and image token counts (parts of input / output), the service tier, 1-hour cache
  writes and web searches are kept for pricing; the last two only in raw usage JSON
  (`collector.ingest.raw_usage`).
- Spans that carry rolled-up usage of their children (agent, workflow, task, chain spans,
  Vercel `ai.generateText`-style roots, `gen_ai.aggregated_usage.*`) are marked as roll-ups
  and never treated as model calls.
- Only dimensions (provider, feature, tenant, session, user, agent, environment, service)
  are taken from the resource; what a span is (operation, kind, model, tokens) is its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from collector.ingest.conventions import (
    AGENT,
    AGGREGATED_USAGE,
    CACHE_READ,
    CACHE_WRITE,
    CONCEPT_KEYS,
    COST,
    DEFAULT_RULES,
    ENVIRONMENT,
    FEATURE,
    INPUT,
    INPUT_AUDIO,
    INPUT_IMAGE,
    LANGFUSE_MODEL_TYPES,
    LANGFUSE_ROLLUP_TYPES,
    LF_COST,
    LF_TYPE,
    LF_USAGE,
    MODEL_CALL_OPERATIONS,
    NO_CACHE_INPUT,
    OI_INVOCATION,
    OI_KIND,
    OI_OUTPUT,
    OPENINFERENCE_MODEL_KINDS,
    OPENINFERENCE_ROLLUP_KINDS,
    OPERATION,
    OUTPUT,
    OUTPUT_AUDIO,
    OUTPUT_IMAGE,
    PROVIDER,
    PROVIDER_ALIASES,
    PROVIDER_METADATA,
    RAW_USAGE,
    REASONING,
    REQUEST_MODEL,
    REQUEST_TIER,
    RESOURCE_CONCEPTS,
    RESPONSE_MODEL,
    ROLLUP_OPERATIONS,
    SERVER_ADDRESS,
    SERVER_PROVIDERS,
    SERVICE,
    SERVICE_TIER,
    SESSION,
    STORED_CONCEPTS,
    STORED_WITHOUT_TOKENS,
    TENANT,
    TL_ENTITY,
    TL_KIND,
    TOTAL,
    TRACELOOP_ROLLUP_KINDS,
    USER,
    VERCEL_CALL_SUFFIXES,
    VERCEL_NON_ROLLUPS,
    DimensionRules,
    Found,
)
from collector.ingest.emitters import Emitter, EmitterMemo
from collector.ingest.latency import first_token_ms
from collector.ingest.raw_usage import RawDetails, logfire_raw, openinference_raw, vercel_metadata
from collector.ingest.rejections import SpanRejected
from collector.ingest.service_tier import served_tier, streamed_responses_call
from collector.ingest.usage import (
    MAX_REPORTED_COST,
    MAX_TOKENS,
    Counts,
    counted_tokens,
    langfuse_usage,
    reported_cost,
    tokens,
)

# What other modules and the tests take from here: the concepts and the rules.
__all__ = [
    "AGENT",
    "AGGREGATED_USAGE",
    "CACHE_READ",
    "CACHE_WRITE",
    "CONCEPT_KEYS",
    "COST",
    "DEFAULT_RULES",
    "ENVIRONMENT",
    "FEATURE",
    "INPUT",
    "LF_COST",
    "LF_TYPE",
    "LF_USAGE",
    "MAX_REPORTED_COST",
    "MAX_TOKENS",
    "NO_CACHE_INPUT",
    "OI_KIND",
    "OPERATION",
    "OUTPUT",
    "PROVIDER",
    "REASONING",
    "REQUEST_MODEL",
    "RESPONSE_MODEL",
    "SERVER_ADDRESS",
    "SERVICE",
    "SESSION",
    "TENANT",
    "TL_ENTITY",
    "TL_KIND",
    "USER",
    "DimensionRules",
    "Normalized",
    "Normalizer",
    "SpanRejected",
    "canonical_provider",
]

# Distinct raw provider strings remembered with their canonical form (bounded memo).
MAX_PROVIDER_MEMO = 1024


@dataclass(slots=True)
class Normalized:
    """The normalized fields of one span (dimensions are the span's own, not inherited)."""

    is_model_call: bool
    is_usage_rollup: bool
    provider: str | None
    operation: str | None
    request_model: str | None
    response_model: str | None
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    reported_cost_usd: float | None
    feature: str | None
    feature_default: str | None
    session_id: str | None
    user_id: str | None
    tenant_id: str | None
    environment: str | None
    agent_name: str | None
    service: str | None
    remainder: dict[str, Any]
    # Priced dimensions beyond text tokens (parts of input / output), and the assumptions
    # made reading them (`collector.ingest.emitters` codes, comma-separated).
    cache_write_1h_tokens: int | None = None
    input_audio_tokens: int | None = None
    output_audio_tokens: int | None = None
    input_image_tokens: int | None = None
    output_image_tokens: int | None = None
    service_tier: str | None = None
    web_search_calls: int | None = None
    pricing_assumption: str | None = None
    # As sent, in ms; bounded by the span's duration when stored (`collector.ingest.latency`).
    time_to_first_token_ms: float | None = None


class Normalizer:
    """Holds the key table built from the configured dimension rules."""

    def __init__(self, rules: DimensionRules = DEFAULT_RULES) -> None:
        self.rules = rules
        concept_keys = dict(CONCEPT_KEYS)
        concept_keys[FEATURE] = rules.feature_keys
        concept_keys[TENANT] = rules.tenant_keys
        keys: dict[str, tuple[tuple[int, int], ...]] = {}
        for concept, names in concept_keys.items():
            for priority, name in enumerate(names):
                hits = keys.get(name, ())
                if all(hit[0] != concept for hit in hits):  # first listing wins
                    keys[name] = (*hits, (concept, priority))
        self._keys = keys
        self._providers: dict[str, str] = {}
        self._emitters = EmitterMemo()

    def find(self, attributes: Mapping[str, Any]) -> Found:
        """The winning (priority, key, value) per concept among `attributes`."""
        keys = self._keys
        found: Found = {}
        for key, value in attributes.items():
            hits = keys.get(key)
            if hits is None or value is None or value == "":
                continue
            for concept, priority in hits:
                current = found.get(concept)
                if current is None or priority < current[0]:
                    found[concept] = (priority, key, value)
        return found

    def resource_context(self, resource_attributes: Mapping[str, Any]) -> dict[int, Any]:
        """Dimensions set on the resource apply to each of its spans unless a span overrides."""
        return {
            concept: hit[2]
            for concept, hit in self.find(resource_attributes).items()
            if concept in RESOURCE_CONCEPTS
        }

    def normalize(
        self,
        name: str,
        attributes: Mapping[str, Any],
        resource: Mapping[int, Any],
        scope_name: str | None = None,
    ) -> Normalized:
        """One span's attributes onto one record. Longer than the house limit on purpose: it
        runs once per span on the ingest hot path (docs/benchmarks.md, the 25 us budget), and
        its steps share a dozen locals that helper calls would pass back and forth."""
        found = self.find(attributes)

        operation = _text(_own(found, OPERATION))
        oi_kind = _text(_own(found, OI_KIND))
        tl_kind = _text(_own(found, TL_KIND))
        lf_type = _text(_own(found, LF_TYPE))
        request_model = _text(_own(found, REQUEST_MODEL))
        response_model = _text(_own(found, RESPONSE_MODEL))

        provider = self._provider(found, resource)
        emitter = self._emitters.find(scope_name, provider, _vercel_version(scope_name, found))
        provider = emitter.provider or provider
        usage = read_usage(found, emitter, attributes)
        stored = STORED_WITHOUT_TOKENS if usage.from_langfuse else STORED_CONCEPTS
        input_tokens, output_tokens = usage.counts.input, usage.counts.output

        is_call_marked = (
            operation in MODEL_CALL_OPERATIONS
            or oi_kind in OPENINFERENCE_MODEL_KINDS
            or lf_type in LANGFUSE_MODEL_TYPES
            or name.endswith(VERCEL_CALL_SUFFIXES)
            or name == "litellm_request"
        )
        is_rollup = (
            operation in ROLLUP_OPERATIONS
            or oi_kind in OPENINFERENCE_ROLLUP_KINDS
            or tl_kind in TRACELOOP_ROLLUP_KINDS
            or lf_type in LANGFUSE_ROLLUP_TYPES
            or AGGREGATED_USAGE in found
            or (not is_call_marked and _is_vercel_root(name))
        )
        is_model_call = not is_rollup and (
            is_call_marked
            # No convention marks the span: usage plus a model still make it a call.
            or (
                operation is None
                and oi_kind is None
                and (input_tokens is not None or output_tokens is not None)
                and (request_model is not None or response_model is not None)
            )
        )

        agent = _text(_own(found, AGENT))
        if agent is None and tl_kind == "agent":
            agent = _text(_own(found, TL_ENTITY))
        if agent is None:
            agent = _text(resource.get(AGENT))
        service = _text(resource.get(SERVICE)) or _text(_own(found, SERVICE))

        feature_default = None
        pattern = self.rules.feature_span_name_pattern
        if pattern is not None and (match := pattern.search(name)):
            feature_default = match.group(1) if pattern.groups else match.group(0)
        if feature_default is None and self.rules.feature_from_service:
            feature_default = service

        consumed = {hit[1] for concept, hit in found.items() if concept in stored}
        remainder = {k: v for k, v in attributes.items() if k not in consumed}

        return Normalized(
            is_model_call=is_model_call,
            is_usage_rollup=is_rollup,
            provider=provider,
            operation=operation or (oi_kind.lower() if oi_kind else None),
            request_model=request_model,
            response_model=response_model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=usage.counts.cache_read,
            cache_write_tokens=usage.counts.cache_write,
            reasoning_tokens=usage.counts.reasoning,
            reported_cost_usd=reported_cost(found),
            feature=_text(_dimension(found, resource, FEATURE)),
            feature_default=feature_default,
            session_id=_text(_dimension(found, resource, SESSION)),
            user_id=_text(_dimension(found, resource, USER)),
            tenant_id=_text(_dimension(found, resource, TENANT)),
            environment=_text(_dimension(found, resource, ENVIRONMENT)),
            agent_name=agent,
            service=service,
            remainder=remainder,
            cache_write_1h_tokens=usage.cache_write_1h,
            input_audio_tokens=usage.input_audio,
            output_audio_tokens=usage.output_audio,
            input_image_tokens=usage.input_image,
            output_image_tokens=usage.output_image,
            service_tier=usage.service_tier,
            web_search_calls=usage.web_search_calls,
            pricing_assumption=usage.pricing_assumption,
            time_to_first_token_ms=first_token_ms(found),
        )

    def _provider(self, found: Found, resource: Mapping[int, Any]) -> str | None:
        raw = _text(_dimension(found, resource, PROVIDER))
        if raw is not None:
            canonical = self._providers.get(raw)
            if canonical is None:
                canonical = canonical_provider(raw)
                if len(self._providers) < MAX_PROVIDER_MEMO:
                    self._providers[raw] = canonical
            if canonical:
                return canonical
        server = found.get(SERVER_ADDRESS)
        if server is not None and isinstance(server[2], str):
            host = server[2].lower()
            for suffix, provider in SERVER_PROVIDERS:
                if host.endswith(suffix):
                    return provider
        return None


def canonical_provider(raw: str) -> str:
    """The `gen_ai.provider.name` form of a provider string as an instrumentation sent it.

    Vercel AI SDK model providers look like `openai.chat` or `google.vertex.chat`: when the
    whole string is not known, shorter dotted prefixes are tried. Unknown values are kept,
    lower-cased.
    """
    lowered = raw.strip().lower()
    canonical = PROVIDER_ALIASES.get(lowered)
    head = lowered
    while canonical is None and "." in head:
        head = head.rsplit(".", 1)[0]
        canonical = PROVIDER_ALIASES.get(head)
    return canonical or lowered


def _own(found: Found, concept: int) -> Any:
    hit = found.get(concept)
    return None if hit is None else hit[2]


def _dimension(found: Found, resource: Mapping[int, Any], concept: int) -> Any:
    """The span's own value, else the resource's."""
    hit = found.get(concept)
    return resource.get(concept) if hit is None else hit[2]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:  # orjson.JSONEncodeError: integers beyond 64 bits, odd types
        raise SpanRejected(f"attribute value cannot be stored: {exc}") from None


@dataclass(slots=True)
class UsageRead:
    """A span's token counts as stored, its priced details, and the assumptions made."""

    counts: Counts
    from_langfuse: bool
    cache_write_1h: int | None = None
    input_audio: int | None = None
    output_audio: int | None = None
    input_image: int | None = None
    output_image: int | None = None
    service_tier: str | None = None
    web_search_calls: int | None = None
    pricing_assumption: str | None = None


def read_usage(found: Found, emitter: Emitter, attributes: Mapping[str, Any]) -> UsageRead:
    """The span's usage by its emitter's rule: first-class attributes first, then what the
    emitter's raw usage JSON adds (cache split, 1-hour writes, tier, web searches)."""
    langfuse = langfuse_usage(found[LF_USAGE][2]) if LF_USAGE in found else None
    raw = _raw_details(found, emitter)
    if langfuse is not None:
        counts = Counts(*langfuse)
        flags = counted_tokens(counts, "inclusive", "inside")
    else:
        counts = Counts(
            tokens(found, INPUT),
            tokens(found, OUTPUT),
            _or(tokens(found, CACHE_READ), raw.cache_read),
            _or(tokens(found, CACHE_WRITE), raw.cache_write),
            _or(tokens(found, REASONING), raw.reasoning),
            tokens(found, NO_CACHE_INPUT),
            tokens(found, TOTAL),
        )
        flags = counted_tokens(counts, emitter.input, emitter.reasoning)
    if emitter.flag is not None:
        flags.insert(0, emitter.flag)
    tier, tier_flags = served_tier(
        _text(_own(found, SERVICE_TIER)) or raw.service_tier,
        _text(_own(found, REQUEST_TIER)) or raw.request_tier,
        emitter.tier,
        emitter.tier != "response" and streamed_responses_call(attributes),
    )
    flags += tier_flags
    one_hour = raw.cache_write_1h
    if one_hour is not None:
        one_hour = min(one_hour, counts.cache_write or 0)
    return UsageRead(
        counts=counts,
        from_langfuse=langfuse is not None,
        cache_write_1h=one_hour,
        input_audio=_or(tokens(found, INPUT_AUDIO), raw.input_audio),
        output_audio=_or(tokens(found, OUTPUT_AUDIO), raw.output_audio),
        input_image=_or(tokens(found, INPUT_IMAGE), raw.input_image),
        output_image=tokens(found, OUTPUT_IMAGE),
        service_tier=tier,
        web_search_calls=raw.web_search_calls,
        pricing_assumption=",".join(flags) or None,
    )


_NO_RAW = RawDetails()


def _raw_details(found: Found, emitter: Emitter) -> RawDetails:
    details = None
    if emitter.raw == "logfire" and RAW_USAGE in found:
        details = logfire_raw(found[RAW_USAGE][2])
    elif emitter.raw == "vercel" and PROVIDER_METADATA in found:
        details = vercel_metadata(found[PROVIDER_METADATA][2])
    elif emitter.raw == "openinference":
        details = openinference_raw(_own(found, OI_OUTPUT), _own(found, OI_INVOCATION))
    return details or _NO_RAW


def _or(value: int | None, fallback: int | None) -> int | None:
    return fallback if value is None else value


# Vercel AI SDK v6+ spans carry the token detail families; v5 spans do not.
_VERCEL_V6_KEYS = ("ai.usage.inputTokenDetails.", "ai.usage.outputTokenDetails.")


def _vercel_version(scope_name: str | None, found: Found) -> str:
    if scope_name != "ai":
        return ""
    for concept in (NO_CACHE_INPUT, CACHE_READ, CACHE_WRITE, REASONING):
        hit = found.get(concept)
        if hit is not None and hit[1].startswith(_VERCEL_V6_KEYS):
            return "v6+"
    return "v5"


def _is_vercel_root(name: str) -> bool:
    return name.startswith("ai.") and name.count(".") == 1 and name not in VERCEL_NON_ROLLUPS
