"""Map the attribute names of the GenAI conventions and instrumentations onto one record.

The input is a span's attributes as a plain dict (both the protobuf and the JSON decoder
produce that); the output is the model-call fields, the attribution dimensions, and the
attributes that were not mapped. One pass over the attributes, one dict lookup per key:
this runs for every span on the ingest hot path.

The rules (documented in docs/normalization.md):
- Each concept has a priority-ordered list of keys; the first present wins. A key may serve
  several concepts (a configured feature or tenant key can also be, say, the agent name).
- Input tokens are stored inclusive of cache reads and writes; when the cache counts exceed
  the reported input, the instrumentation reported exclusive input and we add them back.
  Output tokens are stored inclusive of reasoning tokens, by the same rule. Langfuse's
  `usage_details` are disjoint usage types and are summed.
- Spans that carry rolled-up usage of their children (agent, workflow, task, chain spans,
  Vercel `ai.generateText`-style roots, `gen_ai.aggregated_usage.*`) are marked as roll-ups
  and never treated as model calls.
- Only dimensions (provider, feature, tenant, session, user, agent, environment, service)
  are taken from the resource; what a span is (operation, kind, model, tokens) is its own.
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
# Distinct raw provider strings remembered with their canonical form (bounded memo).
MAX_PROVIDER_MEMO = 1024


class SpanRejected(ValueError):
    """A span that cannot be stored as sent; the message says why (OTLP partial success)."""


# Concepts (indexes into the per-span `found` table).
PROVIDER, OPERATION, RESPONSE_MODEL, REQUEST_MODEL = 0, 1, 2, 3
INPUT, OUTPUT, CACHE_READ, CACHE_WRITE, REASONING, NO_CACHE_INPUT = 4, 5, 6, 7, 8, 9
COST, SESSION, USER, TENANT, FEATURE, AGENT, ENVIRONMENT = 10, 11, 12, 13, 14, 15, 16
OI_KIND, TL_KIND, TL_ENTITY, LF_TYPE, SERVER_ADDRESS = 17, 18, 19, 20, 21
LF_USAGE, LF_COST, SERVICE, AGGREGATED_USAGE = 22, 23, 24, 25

# Priority-ordered attribute keys per concept (standards.md section 2.2). FEATURE and
# TENANT come from the configured `DimensionRules`.
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
        "embedding.model_name",  # OpenInference EMBEDDING spans
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
    # Pydantic AI agent-run spans (`use_aggregated_usage_attribute_names`): a marker only.
    AGGREGATED_USAGE: (
        "gen_ai.aggregated_usage.input_tokens",
        "gen_ai.aggregated_usage.output_tokens",
        "gen_ai.aggregated_usage.cache_read.input_tokens",
        "gen_ai.aggregated_usage.cache_write.input_tokens",
        "gen_ai.aggregated_usage.cache_creation.input_tokens",
    ),
}

# Concepts whose winning attribute is stored in a column, so it leaves the JSON remainder.
# The others (provider as sent, span kinds, server address, ...) stay in the remainder.
DIMENSION_CONCEPTS = frozenset({SESSION, USER, TENANT, FEATURE, AGENT, ENVIRONMENT})
TOKEN_CONCEPTS = frozenset({INPUT, OUTPUT, CACHE_READ, CACHE_WRITE, REASONING, NO_CACHE_INPUT})
STORED_CONCEPTS = (
    frozenset({OPERATION, RESPONSE_MODEL, REQUEST_MODEL, COST})
    | TOKEN_CONCEPTS
    | DIMENSION_CONCEPTS
)
# When Langfuse's usage_details supplied the tokens, the token attributes stay as sent.
STORED_WITHOUT_TOKENS = STORED_CONCEPTS - TOKEN_CONCEPTS
# The resource lends a span its dimensions, never what the span is (kind, model, tokens).
RESOURCE_CONCEPTS = DIMENSION_CONCEPTS | {PROVIDER, SERVICE}

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
# `agent_step`: Vercel AI SDK (@ai-sdk/otel) step spans repeat their model call's usage.
ROLLUP_OPERATIONS = frozenset({"invoke_agent", "invoke_workflow", "create_agent", "agent_step"})
OPENINFERENCE_MODEL_KINDS = frozenset({"LLM", "EMBEDDING"})
OPENINFERENCE_ROLLUP_KINDS = frozenset({"AGENT", "CHAIN"})
TRACELOOP_ROLLUP_KINDS = frozenset({"workflow", "task", "agent"})
LANGFUSE_MODEL_TYPES = frozenset({"generation", "embedding", "GENERATION", "EMBEDDING"})
LANGFUSE_ROLLUP_TYPES = frozenset({"agent", "chain", "AGENT", "CHAIN"})
VERCEL_CALL_SUFFIXES = (".doGenerate", ".doStream", ".doEmbed")
VERCEL_NON_ROLLUPS = frozenset({"ai.toolCall"})

# Canonical `gen_ai.provider.name` values (standards.md section 1.2) and self-hosted servers.
CANONICAL_PROVIDERS = frozenset(
    {
        "openai",
        "anthropic",
        "aws.bedrock",
        "azure.ai.openai",
        "azure.ai.inference",
        "gcp.gemini",
        "gcp.vertex_ai",
        "gcp.gen_ai",
        "cohere",
        "deepseek",
        "groq",
        "ibm.watsonx.ai",
        "mistral_ai",
        "perplexity",
        "x_ai",
        "moonshot_ai",
        "vllm",
        "ollama",
    }
)
# Lower-cased values seen in the wild -> canonical (standards.md section 2.4).
PROVIDER_ALIASES = {
    **{name: name for name in CANONICAL_PROVIDERS},
    "az.ai.openai": "azure.ai.openai",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure-openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "azure_ai": "azure.ai.inference",
    "aws": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "amazon-bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "vertex": "gcp.vertex_ai",
    "google.vertex": "gcp.vertex_ai",
    "google-vertex": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google": "gcp.gemini",
    "google-generative-ai": "gcp.gemini",
    "xai": "x_ai",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "cohere_chat": "cohere",
    "ibm.watson.ai": "ibm.watsonx.ai",
    "watsonx": "ibm.watsonx.ai",
    "hosted_vllm": "vllm",
    "ollama_chat": "ollama",
    "text-completion-openai": "openai",
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

# Langfuse `usage_details` keys (Langfuse usage types are disjoint: total = their sum).
LANGFUSE_CACHE_READ = frozenset(
    {"input_cached_tokens", "cache_read_input_tokens", "input_cache_read", "cache_read"}
)
LANGFUSE_CACHE_WRITE = frozenset(
    {
        "cache_creation_input_tokens",
        "input_cache_creation",
        "cache_write_input_tokens",
        "input_cache_write",
        "cache_write",
    }
)
LANGFUSE_REASONING = frozenset(
    {"output_reasoning_tokens", "output_reasoning", "reasoning_tokens", "reasoning"}
)
# Keys that mark an OpenAI usage object passed as is (inclusive counts, nested details).
OPENAI_USAGE_KEYS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_tokens_details",
    "input_tokens_details",
    "completion_tokens_details",
    "output_tokens_details",
)


@dataclass(frozen=True)
class DimensionRules:
    """Which attributes name the feature and the tenant, and the fallbacks for feature."""

    feature_keys: tuple[str, ...]
    tenant_keys: tuple[str, ...]
    feature_span_name_pattern: re.Pattern[str] | None = None
    feature_from_service: bool = False


# The defaults of `Settings.feature_attributes` / `tenant_attributes` (docs/configuration.md).
DEFAULT_RULES = DimensionRules(
    feature_keys=(
        "spendscope.feature",
        "app.feature",
        "feature",
        "traceloop.association.properties.feature",
        "ai.telemetry.metadata.feature",
        "gen_ai.workflow.name",
        "traceloop.workflow.name",
        "ai.telemetry.functionId",
        "langfuse.trace.name",
    ),
    tenant_keys=(
        "spendscope.tenant",
        "tenant.id",
        "traceloop.association.properties.customer_id",
        "traceloop.association.properties.tenant_id",
        "ai.telemetry.metadata.tenantId",
        "metadata.user_api_key_team_id",
        "metadata.user_api_key_org_id",
    ),
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


Found = dict[int, tuple[int, str, Any]]


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
    ) -> Normalized:
        found = self.find(attributes)

        operation = _text(_own(found, OPERATION))
        oi_kind = _text(_own(found, OI_KIND))
        tl_kind = _text(_own(found, TL_KIND))
        lf_type = _text(_own(found, LF_TYPE))
        request_model = _text(_own(found, REQUEST_MODEL))
        response_model = _text(_own(found, RESPONSE_MODEL))

        usage = _langfuse_usage(found[LF_USAGE][2]) if LF_USAGE in found else None
        if usage is not None:
            input_tokens, output_tokens, cache_read, cache_write, reasoning = usage
            no_cache = None
            stored = STORED_WITHOUT_TOKENS
        else:
            input_tokens = _tokens(found, INPUT)
            output_tokens = _tokens(found, OUTPUT)
            cache_read = _tokens(found, CACHE_READ)
            cache_write = _tokens(found, CACHE_WRITE)
            reasoning = _tokens(found, REASONING)
            no_cache = _tokens(found, NO_CACHE_INPUT)
            stored = STORED_CONCEPTS
        input_tokens, output_tokens = _inclusive(
            input_tokens, output_tokens, cache_read, cache_write, reasoning, no_cache
        )

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
            provider=self._provider(found, resource),
            operation=operation or (oi_kind.lower() if oi_kind else None),
            request_model=request_model,
            response_model=response_model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            reasoning_tokens=reasoning,
            reported_cost_usd=_reported_cost(found),
            feature=_text(_dimension(found, resource, FEATURE)),
            feature_default=feature_default,
            session_id=_text(_dimension(found, resource, SESSION)),
            user_id=_text(_dimension(found, resource, USER)),
            tenant_id=_text(_dimension(found, resource, TENANT)),
            environment=_text(_dimension(found, resource, ENVIRONMENT)),
            agent_name=agent,
            service=service,
            remainder=remainder,
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


def _inclusive(
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read: int | None,
    cache_write: int | None,
    reasoning: int | None,
    no_cache: int | None,
) -> tuple[int | None, int | None]:
    """Input inclusive of cache reads and writes, output inclusive of reasoning; checked."""
    cached = (cache_read or 0) + (cache_write or 0)
    if no_cache is not None:  # Vercel: the uncached part, so input = it + the cached parts
        input_tokens = max(no_cache + cached, input_tokens or 0)
    elif input_tokens is None:
        input_tokens = cached if cached else None
    elif cached > input_tokens:
        input_tokens += cached  # reported exclusive of the cache
    if reasoning is not None:
        if output_tokens is None:
            output_tokens = reasoning
        elif reasoning > output_tokens:
            output_tokens += reasoning  # reported exclusive of reasoning
    for count in (input_tokens, output_tokens, cache_read, cache_write, reasoning):
        if count is not None and count > MAX_TOKENS:
            raise SpanRejected(f"token count {count} exceeds the limit of {MAX_TOKENS}")
    return input_tokens, output_tokens


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
    if number > MAX_TOKENS:
        raise SpanRejected(f"{key} ({number}) exceeds the limit of {MAX_TOKENS}")
    return number


def _tokens(found: Found, concept: int) -> int | None:
    hit = found.get(concept)
    if hit is None:
        return None
    return _to_int(hit[2], hit[1])


TokenCounts = tuple[int | None, int | None, int | None, int | None, int | None]


def _langfuse_usage(raw: Any) -> TokenCounts | None:
    """Tokens from Langfuse's `usage_details` JSON; None when it names no input or output.

    Langfuse usage types are disjoint and priced separately (`input` excludes cached input,
    `output` excludes reasoning; the total is their sum), so every input-side type adds to
    the input and every output-side type to the output. An OpenAI usage object passed as is
    (`prompt_tokens`, `*_tokens_details`) is inclusive and read as such.
    """
    details = _json_object(raw, "langfuse.observation.usage_details")
    if any(key in details for key in OPENAI_USAGE_KEYS):
        return _openai_usage(details)
    input_tokens = output_tokens = cache_read = cache_write = reasoning = None
    for key, value in details.items():
        if key in LANGFUSE_CACHE_READ:
            count = _to_int(value, f"usage_details.{key}")
            cache_read = (cache_read or 0) + count
            input_tokens = (input_tokens or 0) + count
        elif key in LANGFUSE_CACHE_WRITE:
            count = _to_int(value, f"usage_details.{key}")
            cache_write = (cache_write or 0) + count
            input_tokens = (input_tokens or 0) + count
        elif key in LANGFUSE_REASONING:
            count = _to_int(value, f"usage_details.{key}")
            reasoning = (reasoning or 0) + count
            output_tokens = (output_tokens or 0) + count
        elif "input" in key:
            input_tokens = (input_tokens or 0) + _to_int(value, f"usage_details.{key}")
        elif "output" in key:
            output_tokens = (output_tokens or 0) + _to_int(value, f"usage_details.{key}")
    if input_tokens is None and output_tokens is None:
        return None
    return input_tokens, output_tokens, cache_read, cache_write, reasoning


def _openai_usage(details: Mapping[str, Any]) -> TokenCounts | None:
    def count(*path: str) -> int | None:
        node: Any = details
        for step in path:
            if not isinstance(node, Mapping) or node.get(step) is None:
                return None
            node = node[step]
        return _to_int(node, "usage_details." + ".".join(path))

    input_tokens = count("prompt_tokens")
    if input_tokens is None:
        input_tokens = count("input_tokens")
    output_tokens = count("completion_tokens")
    if output_tokens is None:
        output_tokens = count("output_tokens")
    cache_read = count("prompt_tokens_details", "cached_tokens")
    if cache_read is None:
        cache_read = count("input_tokens_details", "cached_tokens")
    if cache_read is None:
        cache_read = count("cache_read_input_tokens")
    cache_write = count("cache_creation_input_tokens")
    reasoning = count("completion_tokens_details", "reasoning_tokens")
    if reasoning is None:
        reasoning = count("output_tokens_details", "reasoning_tokens")
    if input_tokens is None and output_tokens is None:
        return None
    return input_tokens, output_tokens, cache_read, cache_write, reasoning


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


def _reported_cost(found: Found) -> float | None:
    hit = found.get(COST)
    if hit is not None:
        return _cost(hit[2], hit[1])
    if LF_COST not in found:
        return None
    details = _json_object(found[LF_COST][2], "langfuse.observation.cost_details")
    if "total" in details:
        return _cost(details["total"], "cost_details.total")
    if not details:
        return None
    # Langfuse: without a total, the total is the sum of the cost types.
    total = sum(_decimal(value, f"cost_details.{key}") for key, value in details.items())
    return _cost(total, "cost_details")


def _cost(raw: Any, key: str) -> float | None:
    if raw is None:
        return None
    cost = _decimal(raw, key)
    if cost < 0 or cost > MAX_REPORTED_COST:
        raise SpanRejected(f"{key} out of range ({_preview(raw)})")
    return float(cost)


def _decimal(raw: Any, key: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        raise SpanRejected(f"{key} must be a number")
    try:
        cost = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise SpanRejected(f"{key} must be a number, got {_preview(raw)}") from None
    if not cost.is_finite():
        raise SpanRejected(f"{key} must be a finite number, got {_preview(raw)}")
    return cost


def _preview(raw: Any) -> str:
    try:
        return repr(str(raw)[:40])
    except ValueError:  # an integer too long to print
        return "a number too long to show"


def _is_vercel_root(name: str) -> bool:
    return name.startswith("ai.") and name.count(".") == 1 and name not in VERCEL_NON_ROLLUPS
