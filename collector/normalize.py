"""Map the attribute names of the GenAI conventions and instrumentations onto one record.

The input is a span's attributes as a plain dict (both the protobuf and the JSON decoder
produce that); the output is the model-call fields, the attribution dimensions, and the
attributes that were not mapped. One pass over the attributes, one dict lookup per key:
this runs for every span on the ingest hot path.

The rules (documented in docs/normalization.md):
- Each concept has a priority-ordered list of keys; the first present wins.
- Input tokens are stored inclusive of cache reads and writes; when the cache counts exceed
  the reported input, the instrumentation reported exclusive input and we add them back.
  Output tokens are stored inclusive of reasoning tokens, by the same rule.
- Spans that carry rolled-up usage of their children (agent, workflow, task, chain spans,
  Vercel `ai.generateText`-style roots, `gen_ai.aggregated_usage.*`) are marked as roll-ups
  and never treated as model calls.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

# Largest token count accepted for one call. Above it the span is rejected (partial success):
# no model has a context near it, so it can only be a bug in the client.
MAX_TOKENS = 1_000_000_000
# Largest reported cost accepted for one call, in USD.
MAX_REPORTED_COST = Decimal(1_000_000)


class SpanRejected(ValueError):
    """A span that cannot be stored as sent; the message says why (OTLP partial success)."""


# Concepts (indexes into the per-span `found` table).
PROVIDER, OPERATION, RESPONSE_MODEL, REQUEST_MODEL = 0, 1, 2, 3
INPUT, OUTPUT, CACHE_READ, CACHE_WRITE, REASONING, NO_CACHE_INPUT = 4, 5, 6, 7, 8, 9
COST, SESSION, USER, TENANT, FEATURE, AGENT, ENVIRONMENT = 10, 11, 12, 13, 14, 15, 16
OI_KIND, TL_KIND, TL_ENTITY, LF_TYPE, SERVER_ADDRESS = 17, 18, 19, 21, 22
LF_USAGE, LF_COST, SERVICE = 23, 24, 25

# Priority-ordered attribute keys per concept (standards.md section 2.2).
CONCEPT_KEYS: dict[int, tuple[str, ...]] = {
    PROVIDER: (
        "gen_ai.provider.name",
        "gen_ai.system",
        "llm.provider",
        "llm.system",
        "ai.model.provider",
    ),
    OPERATION: ("gen_ai.operation.name", "llm.request.type", "ai.operationId"),
    RESPONSE_MODEL: (
        "langfuse.observation.model.name",
        "gen_ai.response.model",
        "llm.response.model_name",
        "ai.response.model",
        "llm.response.model",
    ),
    REQUEST_MODEL: (
        "gen_ai.request.model",
        "llm.request.model_name",
        "llm.model_name",
        "ai.model.id",
        "llm.request.model",
    ),
    INPUT: (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
        "ai.usage.inputTokens",
        "ai.usage.promptTokens",
        "ai.usage.tokens",
        "llm.usage.prompt_tokens",
    ),
    OUTPUT: (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
        "ai.usage.outputTokens",
        "ai.usage.completionTokens",
        "llm.usage.completion_tokens",
    ),
    CACHE_READ: (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read",
        "ai.usage.inputTokenDetails.cacheReadTokens",
        "ai.usage.cachedInputTokens",
        "gen_ai.usage.prompt_tokens_details.cached_tokens",
        "gen_ai.usage.details.cache_read_tokens",
    ),
    CACHE_WRITE: (
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "llm.token_count.prompt_details.cache_write",
        "ai.usage.inputTokenDetails.cacheWriteTokens",
        "gen_ai.usage.prompt_tokens_details.cache_creation_tokens",
        "gen_ai.usage.details.cache_write_tokens",
    ),
    REASONING: (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
        "llm.usage.reasoning_tokens",
        "llm.token_count.completion_details.reasoning",
        "ai.usage.outputTokenDetails.reasoningTokens",
        "ai.usage.reasoningTokens",
        "gen_ai.usage.completion_tokens_details.reasoning_tokens",
        "gen_ai.usage.details.reasoning_tokens",
    ),
    NO_CACHE_INPUT: ("ai.usage.inputTokenDetails.noCacheTokens",),
    COST: (
        "gen_ai.usage.cost",
        "llm.cost.total",
        "gen_ai.cost.total_cost",
        "operation.cost",
    ),
    SESSION: (
        "gen_ai.conversation.id",
        "session.id",
        "traceloop.association.properties.session_id",
        "langfuse.session.id",
        "ai.telemetry.metadata.sessionId",
    ),
    USER: (
        "user.id",
        "enduser.id",
        "traceloop.association.properties.user_id",
        "langfuse.user.id",
        "gen_ai.user",
        "llm.user",
        "ai.telemetry.metadata.userId",
        "metadata.user_api_key_user_id",
    ),
    AGENT: ("gen_ai.agent.name", "agent.name", "agent_name"),
    ENVIRONMENT: (
        "deployment.environment.name",
        "deployment.environment",
        "langfuse.environment",
        "gen_ai.environment",
    ),
    OI_KIND: ("openinference.span.kind",),
    TL_KIND: ("traceloop.span.kind",),
    TL_ENTITY: ("traceloop.entity.name",),
    LF_TYPE: ("langfuse.observation.type",),
    SERVER_ADDRESS: ("server.address",),
    LF_USAGE: ("langfuse.observation.usage_details",),
    LF_COST: ("langfuse.observation.cost_details",),
    SERVICE: ("service.name", "gen_ai.application_name"),
}

# Concepts whose winning attribute is stored in a column, so it leaves the JSON remainder.
# The others (provider as sent, span kinds, server address, ...) stay in the remainder.
STORED_CONCEPTS = frozenset(
    {
        OPERATION,
        RESPONSE_MODEL,
        REQUEST_MODEL,
        INPUT,
        OUTPUT,
        CACHE_READ,
        CACHE_WRITE,
        REASONING,
        NO_CACHE_INPUT,
        COST,
        SESSION,
        USER,
        TENANT,
        FEATURE,
        AGENT,
        ENVIRONMENT,
    }
)

MODEL_CALL_OPERATIONS = frozenset(
    {
        "chat",
        "text_completion",
        "generate_content",
        "completion",
        "generate",
        "embeddings",
        "embedding",
        "response",
        "responses",
        "rerank",
    }
)
ROLLUP_OPERATIONS = frozenset({"invoke_agent", "invoke_workflow", "create_agent"})
OPENINFERENCE_MODEL_KINDS = frozenset({"LLM", "EMBEDDING"})
OPENINFERENCE_ROLLUP_KINDS = frozenset({"AGENT", "CHAIN"})
TRACELOOP_ROLLUP_KINDS = frozenset({"workflow", "task", "agent"})
LANGFUSE_MODEL_TYPES = frozenset({"generation", "embedding", "GENERATION", "EMBEDDING"})
AGGREGATED_USAGE_PREFIX = "gen_ai.aggregated_usage."
VERCEL_CALL_SUFFIXES = (".doGenerate", ".doStream", ".doEmbed")
VERCEL_NON_ROLLUPS = frozenset({"ai.toolCall"})

PROVIDER_ALIASES = {
    "az.ai.openai": "azure.ai.openai",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "aws": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google": "gcp.gemini",
    "xai": "x_ai",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "ibm.watson.ai": "ibm.watsonx.ai",
    "watsonx": "ibm.watsonx.ai",
    "hosted_vllm": "vllm",
}
# Suffix of `server.address` -> provider, for spans that name no provider.
SERVER_PROVIDERS = (
    ("api.openai.com", "openai"),
    ("openai.azure.com", "azure.ai.openai"),
    ("api.anthropic.com", "anthropic"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    ("amazonaws.com", "aws.bedrock"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("api.x.ai", "x_ai"),
    ("api.cohere.com", "cohere"),
    ("api.cohere.ai", "cohere"),
    ("api.perplexity.ai", "perplexity"),
)


@dataclass(frozen=True)
class DimensionRules:
    """Which attributes name the feature and the tenant, and the fallbacks for feature."""

    feature_keys: tuple[str, ...]
    tenant_keys: tuple[str, ...]
    feature_span_name_pattern: re.Pattern[str] | None = None
    feature_from_service: bool = False


DEFAULT_RULES = DimensionRules(
    feature_keys=("spendscope.feature", "app.feature", "feature", "gen_ai.workflow.name"),
    tenant_keys=("spendscope.tenant", "tenant.id"),
)


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


class Normalizer:
    """Holds the key table built from the configured dimension rules."""

    def __init__(self, rules: DimensionRules = DEFAULT_RULES) -> None:
        self.rules = rules
        keys: dict[str, tuple[int, int]] = {}
        concept_keys = dict(CONCEPT_KEYS)
        concept_keys[FEATURE] = rules.feature_keys
        concept_keys[TENANT] = rules.tenant_keys
        for concept, names in concept_keys.items():
            for priority, name in enumerate(names):
                keys.setdefault(name, (concept, priority))
        self._keys = keys

    def find(self, attributes: Mapping[str, Any]) -> dict[int, tuple[int, str, Any]]:
        """The winning (priority, key, value) per concept among `attributes`."""
        keys = self._keys
        found: dict[int, tuple[int, str, Any]] = {}
        for key, value in attributes.items():
            hit = keys.get(key)
            if hit is None or value is None or value == "":
                continue
            concept, priority = hit
            current = found.get(concept)
            if current is None or priority < current[0]:
                found[concept] = (priority, key, value)
        return found

    def resource_context(self, resource_attributes: Mapping[str, Any]) -> dict[int, Any]:
        """Dimensions set on the resource apply to each of its spans unless a span overrides."""
        return {concept: hit[2] for concept, hit in self.find(resource_attributes).items()}

    def normalize(
        self,
        name: str,
        attributes: Mapping[str, Any],
        resource: Mapping[int, Any],
    ) -> Normalized:
        found = self.find(attributes)

        def value(concept: int) -> Any:
            hit = found.get(concept)
            if hit is not None:
                return hit[2]
            return resource.get(concept)

        operation = _text(value(OPERATION))
        oi_kind = _text(value(OI_KIND))
        tl_kind = _text(value(TL_KIND))
        request_model = _text(value(REQUEST_MODEL))
        response_model = _text(value(RESPONSE_MODEL))

        input_tokens = _tokens(found, INPUT)
        output_tokens = _tokens(found, OUTPUT)
        cache_read = _tokens(found, CACHE_READ)
        cache_write = _tokens(found, CACHE_WRITE)
        reasoning = _tokens(found, REASONING)
        no_cache = _tokens(found, NO_CACHE_INPUT)
        if LF_USAGE in found:
            input_tokens, output_tokens, cache_read, cache_write, reasoning = _langfuse_usage(
                found[LF_USAGE][2], input_tokens, output_tokens, cache_read, cache_write, reasoning
            )
        cached = (cache_read or 0) + (cache_write or 0)
        if no_cache is not None:
            input_tokens = no_cache + cached
        elif input_tokens is not None and cached > input_tokens:
            input_tokens += cached  # reported exclusive of the cache
        elif input_tokens is None and cached:
            input_tokens = cached
        if reasoning is not None and output_tokens is not None and reasoning > output_tokens:
            output_tokens += reasoning  # reported exclusive of reasoning
        for count in (input_tokens, output_tokens, cache_read, cache_write, reasoning):
            if count is not None and count > MAX_TOKENS:
                raise SpanRejected(f"token count {count} exceeds the limit of {MAX_TOKENS}")

        is_rollup = (
            operation in ROLLUP_OPERATIONS
            or oi_kind in OPENINFERENCE_ROLLUP_KINDS
            or tl_kind in TRACELOOP_ROLLUP_KINDS
            or _is_vercel_root(name)
            or any(key.startswith(AGGREGATED_USAGE_PREFIX) for key in attributes)
        )
        has_usage = input_tokens is not None or output_tokens is not None
        is_model_call = not is_rollup and (
            operation in MODEL_CALL_OPERATIONS
            or oi_kind in OPENINFERENCE_MODEL_KINDS
            or name.endswith(VERCEL_CALL_SUFFIXES)
            or _text(value(LF_TYPE)) in LANGFUSE_MODEL_TYPES
            or name == "litellm_request"
            or (has_usage and (request_model is not None or response_model is not None))
        )

        agent = _text(value(AGENT))
        if agent is None and tl_kind == "agent":
            agent = _text(value(TL_ENTITY))
        service = _text(resource.get(SERVICE)) or _text(value(SERVICE))

        feature_default = None
        pattern = self.rules.feature_span_name_pattern
        if pattern is not None and (match := pattern.search(name)):
            feature_default = match.group(1) if pattern.groups else match.group(0)
        if feature_default is None and self.rules.feature_from_service:
            feature_default = service

        consumed = {hit[1] for concept, hit in found.items() if concept in STORED_CONCEPTS}
        remainder = {k: v for k, v in attributes.items() if k not in consumed}

        return Normalized(
            is_model_call=is_model_call,
            is_usage_rollup=is_rollup,
            provider=_provider(found, resource),
            operation=operation or (oi_kind.lower() if oi_kind else None),
            request_model=request_model,
            response_model=response_model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            reasoning_tokens=reasoning,
            reported_cost_usd=_reported_cost(found),
            feature=_text(value(FEATURE)),
            feature_default=feature_default,
            session_id=_text(value(SESSION)),
            user_id=_text(value(USER)),
            tenant_id=_text(value(TENANT)),
            environment=_text(value(ENVIRONMENT)),
            agent_name=agent,
            service=service,
            remainder=remainder,
        )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def _to_int(value: Any, key: str) -> int:
    if isinstance(value, bool):
        raise SpanRejected(f"{key} must be a number, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise SpanRejected(f"{key} must be a whole number, got {value!r}")
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            raise SpanRejected(f"{key} must be a whole number, got {value[:40]!r}") from None
    else:
        raise SpanRejected(f"{key} must be a number")
    if number < 0:
        raise SpanRejected(f"{key} is negative ({number})")
    return number


def _tokens(found: Mapping[int, tuple[int, str, Any]], concept: int) -> int | None:
    hit = found.get(concept)
    if hit is None:
        return None
    return _to_int(hit[2], hit[1])


def _langfuse_usage(
    raw: Any,
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read: int | None,
    cache_write: int | None,
    reasoning: int | None,
) -> tuple[int | None, int | None, int | None, int | None, int | None]:
    """Langfuse's `usage_details` JSON fills what the span's own attributes left empty."""
    details = _json_object(raw, "langfuse.observation.usage_details")

    def pick(current: int | None, *names: str) -> int | None:
        if current is not None:
            return current
        for name in names:
            if name in details:
                return _to_int(details[name], f"usage_details.{name}")
        return None

    return (
        pick(input_tokens, "input", "prompt_tokens", "input_tokens"),
        pick(output_tokens, "output", "completion_tokens", "output_tokens"),
        pick(cache_read, "cache_read_input_tokens", "input_cached_tokens", "cache_read"),
        pick(cache_write, "cache_creation_input_tokens", "input_cache_creation", "cache_write"),
        pick(reasoning, "reasoning", "reasoning_tokens", "output_reasoning_tokens"),
    )


def _json_object(raw: Any, key: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str | bytes):
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise SpanRejected(f"{key} is not valid JSON") from None
        if isinstance(parsed, dict):
            return parsed
    raise SpanRejected(f"{key} must be a JSON object")


def _reported_cost(found: Mapping[int, tuple[int, str, Any]]) -> float | None:
    hit = found.get(COST)
    if hit is not None:
        raw, key = hit[2], hit[1]
    elif LF_COST in found:
        raw, key = _json_object(found[LF_COST][2], "cost_details").get("total"), "cost_details"
        if raw is None:
            return None
    else:
        return None
    try:
        cost = Decimal(str(raw))
    except InvalidOperation:
        raise SpanRejected(f"{key} must be a number, got {str(raw)[:40]!r}") from None
    if not cost.is_finite() or cost < 0 or cost > MAX_REPORTED_COST:
        raise SpanRejected(f"{key} out of range ({raw!r})")
    return float(cost)


def _provider(found: Mapping[int, tuple[int, str, Any]], resource: Mapping[int, Any]) -> str | None:
    hit = found.get(PROVIDER)
    raw: str | None
    if hit is not None:
        raw = _text(hit[2])
        if raw is not None and hit[1] == "ai.model.provider":
            raw = raw.split(".", 1)[0]  # Vercel: "openai.chat"
    else:
        raw = _text(resource.get(PROVIDER))
    if raw:
        lowered = raw.strip().lower()
        return PROVIDER_ALIASES.get(lowered, lowered)
    server = found.get(SERVER_ADDRESS)
    if server is not None and isinstance(server[2], str):
        host = server[2].lower()
        for suffix, provider in SERVER_PROVIDERS:
            if host.endswith(suffix):
                return provider
    return None


def _is_vercel_root(name: str) -> bool:
    return name.startswith("ai.") and name.count(".") == 1 and name not in VERCEL_NON_ROLLUPS
