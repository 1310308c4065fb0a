"""The attribute names of the GenAI conventions and instrumentations, as tables.

Which keys name each concept, in priority order; which operation names and span kinds mark
a model call or a roll-up; the providers' canonical names and the aliases seen in the wild;
Langfuse's usage types; and the default dimension rules. `collector.ingest.normalize` maps a
span's attributes onto one record with them (docs/normalization.md lists them, and
tests/collector/ingest/test_normalize.py fails when the two differ).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Concepts (indexes into the per-span `found` table).
PROVIDER, OPERATION, RESPONSE_MODEL, REQUEST_MODEL = 0, 1, 2, 3
INPUT, OUTPUT, CACHE_READ, CACHE_WRITE, REASONING, NO_CACHE_INPUT = 4, 5, 6, 7, 8, 9
COST, SESSION, USER, TENANT, FEATURE, AGENT, ENVIRONMENT = 10, 11, 12, 13, 14, 15, 16
OI_KIND, TL_KIND, TL_ENTITY, LF_TYPE, SERVER_ADDRESS = 17, 18, 19, 20, 21
LF_USAGE, LF_COST, SERVICE, AGGREGATED_USAGE = 22, 23, 24, 25
INPUT_AUDIO, OUTPUT_AUDIO, INPUT_IMAGE, OUTPUT_IMAGE, SERVICE_TIER = 26, 27, 28, 29, 30
TOTAL, RAW_USAGE, PROVIDER_METADATA = 31, 32, 33
REQUEST_TIER, OI_OUTPUT, OI_INVOCATION = 34, 35, 36
TIME_TO_FIRST_TOKEN = 37

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
    # Modality counts: subsets of input / output, priced at their own rates.
    INPUT_AUDIO: (
        "gen_ai.usage.audio.input_tokens",
        "llm.token_count.prompt_details.audio",
        "gen_ai.usage.details.input_audio_tokens",
        "gen_ai.usage.details.audio_prompt_tokens",
        "gen_ai.usage.prompt_tokens_details.audio_tokens",
    ),
    OUTPUT_AUDIO: (
        "gen_ai.usage.audio.output_tokens",
        "llm.token_count.completion_details.audio",
        "gen_ai.usage.details.output_audio_tokens",
        "gen_ai.usage.details.audio_candidates_tokens",
        "gen_ai.usage.completion_tokens_details.audio_tokens",
    ),
    INPUT_IMAGE: (
        "gen_ai.usage.image.input_tokens",
        "llm.token_count.prompt_details.image",
        "gen_ai.usage.details.image_prompt_tokens",
        "gen_ai.usage.prompt_tokens_details.image_tokens",
    ),
    OUTPUT_IMAGE: (
        "gen_ai.usage.image.output_tokens",
        "gen_ai.usage.details.image_candidates_tokens",
    ),
    # The tier that served the call, then the one asked for (`collector.ingest.service_tier`).
    SERVICE_TIER: ("openai.response.service_tier", "gen_ai.openai.response.service_tier"),
    REQUEST_TIER: ("openai.request.service_tier", "gen_ai.openai.request.service_tier"),
    # The provider's total, read only to recover thinking tokens an emitter dropped.
    TOTAL: (
        "gen_ai.usage.total_tokens",
        "llm.usage.total_tokens",
        "llm.token_count.total",
        "ai.usage.totalTokens",
    ),
    # Raw provider usage JSON: Logfire's usage object, the Vercel AI SDK's provider metadata.
    RAW_USAGE: ("gen_ai.usage.raw",),
    PROVIDER_METADATA: ("ai.response.providerMetadata",),
    # OpenInference: the response body and the request's parameters, as JSON.
    OI_OUTPUT: ("output.value",),
    OI_INVOCATION: ("llm.invocation_parameters",),
    # Streamed calls: start to first chunk. Seconds, except the Vercel keys (milliseconds,
    # FIRST_TOKEN_MS_KEYS). `collector.ingest.latency` reads and bounds it.
    TIME_TO_FIRST_TOKEN: (
        "gen_ai.response.time_to_first_chunk",
        "gen_ai.server.time_to_first_token",
        "gen_ai.latency.time_to_first_token",
        "ai.response.msToFirstChunk",
        "ai.stream.msToFirstChunk",
    ),
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

FIRST_TOKEN_MS_KEYS = frozenset({"ai.response.msToFirstChunk", "ai.stream.msToFirstChunk"})

# Concepts whose winning attribute is stored in a column, so it leaves the JSON remainder.
# The others (provider as sent, span kinds, server address, ...) stay in the remainder.
DIMENSION_CONCEPTS = frozenset({SESSION, USER, TENANT, FEATURE, AGENT, ENVIRONMENT})
TOKEN_CONCEPTS = frozenset(
    {
        INPUT,
        OUTPUT,
        CACHE_READ,
        CACHE_WRITE,
        REASONING,
        NO_CACHE_INPUT,
        INPUT_AUDIO,
        OUTPUT_AUDIO,
        INPUT_IMAGE,
        OUTPUT_IMAGE,
    }
)
STORED_CONCEPTS = (
    frozenset({OPERATION, RESPONSE_MODEL, REQUEST_MODEL, COST, SERVICE_TIER})
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

# Service tier values as sent (lower-cased) -> the stored tier. OpenLIT sends `auto` when it
# does not know; Anthropic says `standard`; Vertex's `traffic_type` says ON_DEMAND_*.
SERVICE_TIERS = {
    "default": "default",
    "auto": "default",
    "standard": "default",
    "on_demand": "default",
    "flex": "flex",
    "on_demand_flex": "flex",
    "priority": "priority",
    "fast": "priority",  # OpenAI answers `priority` to a `fast` request
    "on_demand_priority": "priority",
    "batch": "batch",
    "scale": "scale",
}

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


# The winning (priority, key, value) per concept among a span's attributes.
Found = dict[int, tuple[int, str, Any]]
