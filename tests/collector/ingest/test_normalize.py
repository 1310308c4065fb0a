"""Attribute normalization: every convention we accept, the token rule, rejections, dimensions.

Table-driven: each case is a realistic attribute set as the named instrumentation emits it
(standards.md section 2) and the complete record we must store for it, every field, so a
field that is set when it should not be fails the test as surely as a wrong value.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from collector.ingest import conventions
from collector.ingest.normalize import (
    AGENT,
    AGGREGATED_USAGE,
    CACHE_READ,
    CACHE_WRITE,
    CONCEPT_KEYS,
    COST,
    DEFAULT_RULES,
    ENVIRONMENT,
    INPUT,
    LF_COST,
    LF_TYPE,
    LF_USAGE,
    MAX_TOKENS,
    NO_CACHE_INPUT,
    OI_KIND,
    OPERATION,
    OUTPUT,
    PROVIDER,
    REASONING,
    REQUEST_MODEL,
    RESPONSE_MODEL,
    SERVER_ADDRESS,
    SERVICE,
    SESSION,
    TL_ENTITY,
    TL_KIND,
    USER,
    DimensionRules,
    Normalized,
    Normalizer,
    SpanRejected,
    canonical_provider,
)
from collector.ingest.traces.decode import JSON, PROTOBUF, decode_traces
from collector.settings import Settings
from tests.support.paths import REPO

NORMALIZER = Normalizer()

# The record of a span that maps nothing; each case states how its record differs.
EMPTY: dict[str, Any] = {field.name: None for field in dataclasses.fields(Normalized)}
EMPTY.update(is_model_call=False, is_usage_rollup=False, remainder={})


def run(
    name: str,
    attributes: Mapping[str, Any],
    resource: Mapping[str, Any] | None = None,
    normalizer: Normalizer = NORMALIZER,
) -> Normalized:
    return normalizer.normalize(name, attributes, normalizer.resource_context(resource or {}))


def record(**fields: Any) -> dict[str, Any]:
    unknown = set(fields) - set(EMPTY)
    assert not unknown, f"not fields of Normalized: {unknown}"
    return {**EMPTY, **fields}


def case(
    id: str,
    name: str,
    attributes: dict[str, Any],
    expected: dict[str, Any],
    resource: dict[str, Any] | None = None,
) -> Any:
    return pytest.param(name, attributes, resource or {}, expected, id=id)


# --- one case per convention ------------------------------------------------------------

KEY_HASH = "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
SERVICE_RESOURCE = {"service.name": "support-api", "deployment.environment.name": "production"}

CONVENTIONS = [
    # OTel GenAI v1.41 names plus the newest cache_write; Anthropic semantics (inclusive input).
    case(
        "otel-genai-current",
        "chat claude-sonnet-4",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4",
            "gen_ai.response.model": "claude-sonnet-4-20250514",
            "gen_ai.response.id": "msg_01",
            "gen_ai.response.finish_reasons": ["end_turn"],
            "gen_ai.usage.input_tokens": 5200,
            "gen_ai.usage.output_tokens": 700,
            "gen_ai.usage.cache_read.input_tokens": 4000,
            "gen_ai.usage.cache_write.input_tokens": 1000,
            "gen_ai.usage.reasoning.output_tokens": 250,
            "gen_ai.conversation.id": "conv-42",
            "gen_ai.request.temperature": 0.2,
            "server.address": "api.anthropic.com",
            "server.port": 443,
        },
        record(
            pricing_assumption="input_inclusion_guessed,reasoning_inclusion_guessed",
            is_model_call=True,
            provider="anthropic",
            operation="chat",
            request_model="claude-sonnet-4",
            response_model="claude-sonnet-4-20250514",
            input_tokens=5200,
            output_tokens=700,
            cache_read_tokens=4000,
            cache_write_tokens=1000,
            reasoning_tokens=250,
            session_id="conv-42",
            environment="production",
            service="support-api",
            remainder={
                "gen_ai.provider.name": "anthropic",
                "gen_ai.response.id": "msg_01",
                "gen_ai.response.finish_reasons": ["end_turn"],
                "gen_ai.request.temperature": 0.2,
                "server.address": "api.anthropic.com",
                "server.port": 443,
            },
        ),
        SERVICE_RESOURCE,
    ),
    # v1.40/v1.41 cache_creation next to the newest cache_write: the newest name wins and the
    # other stays in the remainder.
    case(
        "otel-genai-cache-write-beats-cache-creation",
        "chat gpt-4o",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 900,
            "gen_ai.usage.output_tokens": 10,
            "gen_ai.usage.cache_write.input_tokens": 300,
            "gen_ai.usage.cache_creation.input_tokens": 299,
        },
        record(
            pricing_assumption="input_inclusion_guessed",
            is_model_call=True,
            provider="openai",
            operation="chat",
            request_model="gpt-4o",
            input_tokens=900,
            output_tokens=10,
            cache_write_tokens=300,
            remainder={
                "gen_ai.provider.name": "openai",
                "gen_ai.usage.cache_creation.input_tokens": 299,
            },
        ),
    ),
    # Current-spec agent span: its usage is the sum of its children's, a roll-up.
    case(
        "otel-genai-invoke-agent",
        "invoke_agent support",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": "openai",
            "gen_ai.agent.name": "support",
            "gen_ai.agent.id": "asst_7",
            "gen_ai.usage.input_tokens": 12000,
            "gen_ai.usage.output_tokens": 900,
            "spendscope.feature": "support-agent",
            "spendscope.tenant": "acme",
            "user.id": "user-7",
            "session.id": "sess-1",
        },
        record(
            is_usage_rollup=True,
            provider="openai",
            operation="invoke_agent",
            input_tokens=12000,
            output_tokens=900,
            feature="support-agent",
            tenant_id="acme",
            user_id="user-7",
            session_id="sess-1",
            agent_name="support",
            remainder={"gen_ai.provider.name": "openai", "gen_ai.agent.id": "asst_7"},
        ),
    ),
    # Older names: gen_ai.system, prompt/completion tokens, the old Azure value.
    case(
        "older-genai-azure",
        "openai.chat",
        {
            "gen_ai.system": "az.ai.openai",
            "llm.request.type": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.usage.prompt_tokens": 640,
            "gen_ai.usage.completion_tokens": 80,
            "llm.usage.total_tokens": 720,
            "gen_ai.openai.api_base": "https://contoso.openai.azure.com/",
        },
        record(
            is_model_call=True,
            provider="azure.ai.openai",
            operation="chat",
            request_model="gpt-4o-mini",
            response_model="gpt-4o-mini-2024-07-18",
            input_tokens=640,
            output_tokens=80,
            remainder={
                "gen_ai.system": "az.ai.openai",
                "llm.usage.total_tokens": 720,
                "gen_ai.openai.api_base": "https://contoso.openai.azure.com/",
            },
        ),
    ),
    # Older Anthropic path of OpenLLMetry: raw (exclusive) input with the underscore cache
    # names; cache > input gives it away, so the cache is added back.
    case(
        "older-genai-anthropic-exclusive",
        "anthropic.chat",
        {
            "gen_ai.system": "Anthropic",
            "llm.request.type": "chat",
            "gen_ai.request.model": "claude-3-5-haiku-latest",
            "gen_ai.usage.prompt_tokens": 25,
            "gen_ai.usage.completion_tokens": 310,
            "gen_ai.usage.cache_read_input_tokens": 3000,
            "gen_ai.usage.cache_creation_input_tokens": 1200,
        },
        record(
            is_model_call=True,
            provider="anthropic",
            operation="chat",
            request_model="claude-3-5-haiku-latest",
            input_tokens=4225,
            output_tokens=310,
            cache_read_tokens=3000,
            cache_write_tokens=1200,
            remainder={"gen_ai.system": "Anthropic"},
        ),
    ),
    # OpenLLMetry 0.5x model call inside a Traceloop workflow, with association properties.
    case(
        "traceloop-llm-call",
        "openai.chat",
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.system": "openai",
            "llm.request.type": "chat",
            "gen_ai.request.model": "o4-mini",
            "gen_ai.response.model": "o4-mini-2025-04-16",
            "gen_ai.usage.input_tokens": 1500,
            "gen_ai.usage.output_tokens": 900,
            "gen_ai.usage.cache_read.input_tokens": 1024,
            "gen_ai.usage.reasoning_tokens": 640,
            "gen_ai.usage.total_tokens": 2400,
            "llm.is_streaming": False,
            "traceloop.workflow.name": "summarizer",
            "traceloop.entity.path": "summarize.condense",
            "traceloop.association.properties.session_id": "sess-9",
            "traceloop.association.properties.user_id": "user-3",
            "traceloop.association.properties.customer_id": "globex",
            "traceloop.association.properties.plan": "pro",
        },
        record(
            pricing_assumption="input_inclusion_guessed,reasoning_inclusion_guessed",
            is_model_call=True,
            provider="openai",
            operation="chat",
            request_model="o4-mini",
            response_model="o4-mini-2025-04-16",
            input_tokens=1500,
            output_tokens=900,
            cache_read_tokens=1024,
            reasoning_tokens=640,
            feature="summarizer",
            session_id="sess-9",
            user_id="user-3",
            tenant_id="globex",
            remainder={
                "gen_ai.provider.name": "openai",
                "gen_ai.system": "openai",
                "gen_ai.usage.total_tokens": 2400,
                "llm.is_streaming": False,
                "traceloop.entity.path": "summarize.condense",
                "traceloop.association.properties.plan": "pro",
            },
        ),
    ),
    case(
        "traceloop-workflow",
        "summarize.workflow",
        {
            "traceloop.span.kind": "workflow",
            "traceloop.entity.name": "summarize",
            "traceloop.workflow.name": "summarizer",
            "traceloop.association.properties.feature": "summaries",
        },
        record(
            is_usage_rollup=True,
            feature="summaries",
            remainder={
                "traceloop.span.kind": "workflow",
                "traceloop.entity.name": "summarize",
                "traceloop.workflow.name": "summarizer",
            },
        ),
    ),
    case(
        "traceloop-task",
        "condense.task",
        {"traceloop.span.kind": "task", "traceloop.entity.name": "condense"},
        record(
            is_usage_rollup=True,
            remainder={"traceloop.span.kind": "task", "traceloop.entity.name": "condense"},
        ),
    ),
    case(
        "traceloop-agent",
        "researcher.agent",
        {"traceloop.span.kind": "agent", "traceloop.entity.name": "researcher"},
        record(
            is_usage_rollup=True,
            agent_name="researcher",
            remainder={"traceloop.span.kind": "agent", "traceloop.entity.name": "researcher"},
        ),
    ),
    case(
        "traceloop-tool-is-neither",
        "search.tool",
        {"traceloop.span.kind": "tool", "traceloop.entity.name": "search"},
        record(remainder={"traceloop.span.kind": "tool", "traceloop.entity.name": "search"}),
    ),
    # OpenInference LLM span: hosting provider `azure` beats the model vendor in llm.system.
    case(
        "openinference-llm",
        "ChatCompletion",
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "azure",
            "llm.system": "openai",
            "llm.model_name": "gpt-4o",
            "llm.token_count.prompt": 2000,
            "llm.token_count.completion": 150,
            "llm.token_count.total": 2150,
            "llm.token_count.prompt_details.cache_read": 1024,
            "llm.token_count.completion_details.reasoning": 64,
            "llm.cost.total": 0.0123,
            "llm.cost.prompt": 0.01,
            "session.id": "sess-2",
            "user.id": "user-2",
            "metadata": '{"plan": "pro"}',
        },
        record(
            pricing_assumption="input_inclusion_guessed,reasoning_inclusion_guessed",
            is_model_call=True,
            provider="azure.ai.openai",
            operation="llm",
            request_model="gpt-4o",
            input_tokens=2000,
            output_tokens=150,
            cache_read_tokens=1024,
            reasoning_tokens=64,
            reported_cost_usd=0.0123,
            session_id="sess-2",
            user_id="user-2",
            remainder={
                "openinference.span.kind": "LLM",
                "llm.provider": "azure",
                "llm.system": "openai",
                "llm.token_count.total": 2150,
                "llm.cost.prompt": 0.01,
                "metadata": '{"plan": "pro"}',
            },
        ),
    ),
    case(
        "openinference-embedding",
        "CreateEmbeddings",
        {
            "openinference.span.kind": "EMBEDDING",
            "llm.provider": "google",
            "embedding.model_name": "text-embedding-004",
            "llm.token_count.prompt": 48,
            "llm.token_count.total": 48,
        },
        record(
            is_model_call=True,
            provider="gcp.gemini",
            operation="embedding",
            request_model="text-embedding-004",
            input_tokens=48,
            remainder={
                "openinference.span.kind": "EMBEDDING",
                "llm.provider": "google",
                "llm.token_count.total": 48,
            },
        ),
    ),
    case(
        "openinference-chain",
        "RetrievalQA",
        {
            "openinference.span.kind": "CHAIN",
            "llm.token_count.prompt": 3000,
            "llm.token_count.completion": 200,
            "llm.model_name": "gpt-4o",
        },
        record(
            is_usage_rollup=True,
            operation="chain",
            request_model="gpt-4o",
            input_tokens=3000,
            output_tokens=200,
            remainder={"openinference.span.kind": "CHAIN"},
        ),
    ),
    case(
        "openinference-agent",
        "Agent.run",
        {"openinference.span.kind": "AGENT", "agent.name": "planner", "llm.token_count.prompt": 9},
        record(
            is_usage_rollup=True,
            operation="agent",
            input_tokens=9,
            agent_name="planner",
            remainder={"openinference.span.kind": "AGENT"},
        ),
    ),
    # OpenLIT: its own provider values, cost extension, prompt_tokens_details.*, resource.
    case(
        "openlit",
        "chat gemini-2.0-flash",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "vertex_ai",
            "gen_ai.request.model": "gemini-2.0-flash",
            "gen_ai.response.model": "gemini-2.0-flash-001",
            "gen_ai.usage.input_tokens": 800,
            "gen_ai.usage.output_tokens": 120,
            "gen_ai.usage.total_tokens": 920,
            "gen_ai.usage.prompt_tokens_details.cached_tokens": 512,
            "gen_ai.usage.prompt_tokens_details.cache_creation_tokens": 0,
            "gen_ai.usage.completion_tokens_details.reasoning_tokens": 30,
            "gen_ai.usage.cost": 0.00042,
            "gen_ai.environment": "staging",
            "gen_ai.application_name": "kb-search",
        },
        record(
            pricing_assumption="input_inclusion_guessed,reasoning_inclusion_guessed",
            is_model_call=True,
            provider="gcp.vertex_ai",
            operation="chat",
            request_model="gemini-2.0-flash",
            response_model="gemini-2.0-flash-001",
            input_tokens=800,
            output_tokens=120,
            cache_read_tokens=512,
            cache_write_tokens=0,
            reasoning_tokens=30,
            reported_cost_usd=0.00042,
            environment="staging",
            service="kb-search",
            remainder={
                "gen_ai.system": "vertex_ai",
                "gen_ai.usage.total_tokens": 920,
                "gen_ai.application_name": "kb-search",
            },
        ),
    ),
    # Pydantic AI / Logfire model request: both provider keys, details.*, operation.cost.
    case(
        "pydantic-ai-model-request",
        "chat gpt-4o",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 1800,
            "gen_ai.usage.output_tokens": 220,
            "gen_ai.usage.cache_read.input_tokens": 1280,
            "gen_ai.usage.details.reasoning_tokens": 40,
            "gen_ai.usage.details.input_audio_tokens": 0,
            "operation.cost": 0.0061,
            "logfire.span_type": "span",
        },
        record(
            pricing_assumption="input_inclusion_guessed,reasoning_inclusion_guessed",
            is_model_call=True,
            provider="openai",
            operation="chat",
            request_model="gpt-4o",
            response_model="gpt-4o-2024-08-06",
            input_tokens=1800,
            output_tokens=220,
            cache_read_tokens=1280,
            reasoning_tokens=40,
            input_audio_tokens=0,
            reported_cost_usd=0.0061,
            remainder={
                "gen_ai.provider.name": "openai",
                "gen_ai.system": "openai",
                "logfire.span_type": "span",
            },
        ),
    ),
    # Pydantic AI agent run with gen_ai.aggregated_usage.*: a roll-up whose usage is not read.
    case(
        "pydantic-ai-agent-run-aggregated",
        "invoke_agent support_bot",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support_bot",
            "agent_name": "support_bot",
            "gen_ai.conversation.id": "conv-5",
            "gen_ai.aggregated_usage.input_tokens": 5400,
            "gen_ai.aggregated_usage.output_tokens": 660,
            "gen_ai.aggregated_usage.cache_read.input_tokens": 3840,
            "operation.cost": 0.0183,
        },
        record(
            is_usage_rollup=True,
            operation="invoke_agent",
            reported_cost_usd=0.0183,
            session_id="conv-5",
            agent_name="support_bot",
            remainder={
                "agent_name": "support_bot",
                "gen_ai.aggregated_usage.input_tokens": 5400,
                "gen_ai.aggregated_usage.output_tokens": 660,
                "gen_ai.aggregated_usage.cache_read.input_tokens": 3840,
            },
        ),
    ),
    # Aggregated usage marks a roll-up even without an agent operation.
    case(
        "aggregated-usage-alone",
        "agent run",
        {"gen_ai.aggregated_usage.input_tokens": 10, "gen_ai.request.model": "gpt-4o"},
        record(
            is_usage_rollup=True,
            request_model="gpt-4o",
            remainder={"gen_ai.aggregated_usage.input_tokens": 10},
        ),
    ),
    # Vercel AI SDK (legacy `ai.*` telemetry): the root rolls up its doGenerate calls.
    case(
        "vercel-root",
        "ai.generateText",
        {
            "ai.operationId": "ai.generateText",
            "operation.name": "ai.generateText writing-assistant",
            "resource.name": "writing-assistant",
            "ai.model.provider": "openai.responses",
            "ai.model.id": "gpt-4.1",
            "ai.telemetry.functionId": "writing-assistant",
            "ai.telemetry.metadata.userId": "user-11",
            "ai.telemetry.metadata.sessionId": "sess-11",
            "ai.telemetry.metadata.tenantId": "initech",
            "ai.usage.inputTokens": 3100,
            "ai.usage.outputTokens": 800,
            "ai.usage.totalTokens": 3900,
        },
        record(
            is_usage_rollup=True,
            provider="openai",
            operation="ai.generateText",
            request_model="gpt-4.1",
            input_tokens=3100,
            output_tokens=800,
            feature="writing-assistant",
            user_id="user-11",
            session_id="sess-11",
            tenant_id="initech",
            remainder={
                "operation.name": "ai.generateText writing-assistant",
                "resource.name": "writing-assistant",
                "ai.model.provider": "openai.responses",
                "ai.usage.totalTokens": 3900,
            },
        ),
    ),
    # The call: gen_ai.system carries the Vercel provider id; noCacheTokens + cache parts.
    case(
        "vercel-do-generate",
        "ai.generateText.doGenerate",
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.provider": "anthropic.messages",
            "ai.model.id": "claude-sonnet-4",
            "gen_ai.system": "anthropic.messages",
            "gen_ai.request.model": "claude-sonnet-4",
            "gen_ai.response.model": "claude-sonnet-4-20250514",
            "ai.response.model": "claude-sonnet-4-20250514",
            "ai.usage.inputTokens": 3100,
            "ai.usage.inputTokenDetails.noCacheTokens": 100,
            "ai.usage.inputTokenDetails.cacheReadTokens": 2800,
            "ai.usage.inputTokenDetails.cacheWriteTokens": 200,
            "ai.usage.outputTokens": 800,
            "ai.usage.outputTokenDetails.reasoningTokens": 300,
            "ai.usage.outputTokenDetails.textTokens": 500,
            "gen_ai.usage.input_tokens": 3100,
            "gen_ai.usage.output_tokens": 800,
            "ai.response.finishReason": "stop",
        },
        record(
            pricing_assumption="reasoning_inclusion_guessed",
            is_model_call=True,
            provider="anthropic",
            operation="ai.generateText.doGenerate",
            request_model="claude-sonnet-4",
            response_model="claude-sonnet-4-20250514",
            input_tokens=3100,
            output_tokens=800,
            cache_read_tokens=2800,
            cache_write_tokens=200,
            reasoning_tokens=300,
            remainder={
                "ai.model.provider": "anthropic.messages",
                "ai.model.id": "claude-sonnet-4",
                "gen_ai.system": "anthropic.messages",
                "ai.response.model": "claude-sonnet-4-20250514",
                "ai.usage.inputTokens": 3100,
                "ai.usage.outputTokens": 800,
                "ai.usage.outputTokenDetails.textTokens": 500,
                "ai.response.finishReason": "stop",
            },
        ),
    ),
    # AI SDK <= v4 names, and the Vertex provider id that must not read as plain `google`.
    case(
        "vercel-v4-vertex",
        "ai.streamText.doStream",
        {
            "ai.operationId": "ai.streamText.doStream",
            "ai.model.provider": "google.vertex.chat",
            "ai.model.id": "gemini-1.5-pro",
            "ai.usage.promptTokens": 400,
            "ai.usage.completionTokens": 90,
        },
        record(
            is_model_call=True,
            provider="gcp.vertex_ai",
            operation="ai.streamText.doStream",
            request_model="gemini-1.5-pro",
            input_tokens=400,
            output_tokens=90,
            remainder={"ai.model.provider": "google.vertex.chat"},
        ),
    ),
    case(
        "vercel-embed-many-call",
        "ai.embedMany.doEmbed",
        {
            "ai.operationId": "ai.embedMany.doEmbed",
            "ai.model.provider": "openai.embedding",
            "ai.model.id": "text-embedding-3-small",
            "ai.usage.tokens": 64,
        },
        record(
            is_model_call=True,
            provider="openai",
            operation="ai.embedMany.doEmbed",
            request_model="text-embedding-3-small",
            input_tokens=64,
            remainder={"ai.model.provider": "openai.embedding"},
        ),
    ),
    case(
        "vercel-tool-call-is-neither",
        "ai.toolCall",
        {"ai.operationId": "ai.toolCall", "ai.toolCall.name": "weather"},
        record(operation="ai.toolCall", remainder={"ai.toolCall.name": "weather"}),
    ),
    # @ai-sdk/otel (OTel GenAI names): step spans repeat their model call's usage.
    case(
        "vercel-otel-step",
        "step 1",
        {
            "gen_ai.operation.name": "agent_step",
            "ai.usage.inputTokenDetails.noCacheTokens": 120,
            "ai.usage.outputTokenDetails.reasoningTokens": 32,
        },
        record(
            is_usage_rollup=True,
            operation="agent_step",
            input_tokens=120,
            output_tokens=32,
            reasoning_tokens=32,
        ),
    ),
    # Langfuse SDK: disjoint usage types (Anthropic-style keys), cost_details with a total.
    case(
        "langfuse-generation",
        "anthropic-generation",
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.model.name": "claude-sonnet-4",
            "langfuse.observation.usage_details": orjson.dumps(
                {
                    "input": 20,
                    "output": 300,
                    "cache_read_input_tokens": 4000,
                    "cache_creation_input_tokens": 500,
                    "total": 4820,
                }
            ).decode(),
            "langfuse.observation.cost_details": '{"input": 0.00006, "output": 0.0045,'
            ' "cache_read_input_tokens": 0.0012, "total": 0.00576}',
            "langfuse.session.id": "sess-lf",
            "langfuse.user.id": "user-lf",
            "langfuse.environment": "staging",
            "langfuse.trace.name": "chat-assistant",
            "langfuse.observation.metadata.route": "/chat",
        },
        record(
            is_model_call=True,
            response_model="claude-sonnet-4",
            input_tokens=4520,
            output_tokens=300,
            cache_read_tokens=4000,
            cache_write_tokens=500,
            reported_cost_usd=0.00576,
            feature="chat-assistant",
            session_id="sess-lf",
            user_id="user-lf",
            environment="staging",
            remainder={
                "langfuse.observation.type": "generation",
                "langfuse.observation.usage_details": orjson.dumps(
                    {
                        "input": 20,
                        "output": 300,
                        "cache_read_input_tokens": 4000,
                        "cache_creation_input_tokens": 500,
                        "total": 4820,
                    }
                ).decode(),
                "langfuse.observation.cost_details": '{"input": 0.00006, "output": 0.0045,'
                ' "cache_read_input_tokens": 0.0012, "total": 0.00576}',
                "langfuse.observation.metadata.route": "/chat",
            },
        ),
    ),
    # OpenAI-style usage passed as is (inclusive, nested details) and a cost without total:
    # usage_details wins over the span's own gen_ai.usage.*, which then stay as sent.
    case(
        "langfuse-openai-usage",
        "openai-generation",
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.model.name": "o3",
            "langfuse.observation.usage_details": {
                "prompt_tokens": 1000,
                "completion_tokens": 200,
                "total_tokens": 1200,
                "prompt_tokens_details": {"cached_tokens": 400},
                "completion_tokens_details": {"reasoning_tokens": 150},
            },
            "langfuse.observation.cost_details": {"input": "0.0012", "output": 0.0016},
            "gen_ai.usage.input_tokens": 600,
        },
        record(
            is_model_call=True,
            response_model="o3",
            input_tokens=1000,
            output_tokens=200,
            cache_read_tokens=400,
            reasoning_tokens=150,
            reported_cost_usd=0.0028,
            remainder={
                "langfuse.observation.type": "generation",
                "langfuse.observation.usage_details": {
                    "prompt_tokens": 1000,
                    "completion_tokens": 200,
                    "total_tokens": 1200,
                    "prompt_tokens_details": {"cached_tokens": 400},
                    "completion_tokens_details": {"reasoning_tokens": 150},
                },
                "langfuse.observation.cost_details": {"input": "0.0012", "output": 0.0016},
                "gen_ai.usage.input_tokens": 600,
            },
        ),
    ),
    case(
        "langfuse-agent-observation",
        "planner",
        {"langfuse.observation.type": "agent", "langfuse.observation.model.name": "gpt-4o"},
        record(
            is_usage_rollup=True,
            response_model="gpt-4o",
            remainder={"langfuse.observation.type": "agent"},
        ),
    ),
    # LiteLLM callback: name marks the call, cost breakdown, key metadata, proxy resource.
    case(
        "litellm-request",
        "litellm_request",
        {
            "gen_ai.system": "bedrock",
            "gen_ai.operation.name": "acompletion",
            "llm.request.type": "acompletion",
            "gen_ai.request.model": "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "gen_ai.response.model": "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "llm.is_streaming": "False",
            "gen_ai.usage.input_tokens": 1400,
            "gen_ai.usage.output_tokens": 380,
            "gen_ai.usage.total_tokens": 1780,
            "gen_ai.cost.input_cost": 0.0042,
            "gen_ai.cost.output_cost": 0.0057,
            "gen_ai.cost.total_cost": 0.0099,
            "metadata.user_api_key_hash": KEY_HASH,
            "metadata.user_api_key_alias": "checkout-service",
            "metadata.user_api_key_team_id": "team-payments",
            "metadata.user_api_key_org_id": "org-1",
            "metadata.user_api_key_user_id": "alice@example.com",
            "hidden_params": '{"model_id": "abc", "cache_key": null}',
        },
        record(
            is_model_call=True,
            provider="aws.bedrock",
            operation="acompletion",
            request_model="anthropic.claude-3-5-sonnet-20241022-v2:0",
            response_model="anthropic.claude-3-5-sonnet-20241022-v2:0",
            input_tokens=1400,
            output_tokens=380,
            reported_cost_usd=0.0099,
            tenant_id="team-payments",
            user_id="alice@example.com",
            environment="production",
            service="litellm",
            remainder={
                "gen_ai.system": "bedrock",
                "llm.request.type": "acompletion",
                "llm.is_streaming": "False",
                "gen_ai.usage.total_tokens": 1780,
                "gen_ai.cost.input_cost": 0.0042,
                "gen_ai.cost.output_cost": 0.0057,
                "metadata.user_api_key_hash": KEY_HASH,
                "metadata.user_api_key_alias": "checkout-service",
                "metadata.user_api_key_org_id": "org-1",
                "hidden_params": '{"model_id": "abc", "cache_key": null}',
            },
        ),
        {"service.name": "litellm", "deployment.environment": "production"},
    ),
    case(
        "litellm-proxy-parent-is-neither",
        "Received Proxy Server Request",
        {"gen_ai.system": "hosted_vllm", "metadata.user_api_key_org_id": "org-1"},
        record(
            provider="vllm",
            tenant_id="org-1",
            remainder={"gen_ai.system": "hosted_vllm"},
        ),
    ),
    # An unmarked span with usage and a model is still a call; an explicit other operation
    # (a tool) is not, whatever it carries.
    case(
        "unmarked-call-with-usage-and-model",
        "llm",
        {"gen_ai.request.model": "mistral-large", "gen_ai.usage.input_tokens": 5},
        record(is_model_call=True, request_model="mistral-large", input_tokens=5),
    ),
    case(
        "tool-with-usage-is-not-a-call",
        "execute_tool search",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "search",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 5,
        },
        record(
            operation="execute_tool",
            request_model="gpt-4o",
            input_tokens=5,
            remainder={"gen_ai.tool.name": "search"},
        ),
    ),
    # A span of the app's own that happens to start with `ai.` is not a Vercel root when it
    # says it is a model call.
    case(
        "ai-prefixed-span-of-the-app",
        "ai.summarize",
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"},
        record(is_model_call=True, operation="chat", request_model="gpt-4o"),
    ),
]


@pytest.mark.parametrize(("name", "attributes", "resource", "expected"), CONVENTIONS)
def test_conventions_normalize_to_the_full_record(
    name: str, attributes: dict[str, Any], resource: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert dataclasses.asdict(run(name, attributes, resource)) == expected


# --- provider values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("openai", "openai"),
        ("OpenAI", "openai"),
        ("  Anthropic ", "anthropic"),
        ("az.ai.openai", "azure.ai.openai"),
        ("azure", "azure.ai.openai"),
        ("azure.chat", "azure.ai.openai"),
        ("az.ai.inference", "azure.ai.inference"),
        ("azure_ai", "azure.ai.inference"),
        ("aws", "aws.bedrock"),
        ("bedrock", "aws.bedrock"),
        ("amazon-bedrock", "aws.bedrock"),
        ("aws.bedrock", "aws.bedrock"),
        ("vertex_ai", "gcp.vertex_ai"),
        ("google.vertex.chat", "gcp.vertex_ai"),
        ("gemini", "gcp.gemini"),
        ("google", "gcp.gemini"),
        ("google.generative-ai", "gcp.gemini"),
        ("gcp.gen_ai", "gcp.gen_ai"),
        ("xai", "x_ai"),
        ("xai.chat", "x_ai"),
        ("mistralai", "mistral_ai"),
        ("mistral.chat", "mistral_ai"),
        ("ibm.watson.ai", "ibm.watsonx.ai"),
        ("vLLM", "vllm"),
        ("hosted_vllm", "vllm"),
        ("ollama", "ollama"),
        ("openai.chat", "openai"),
        ("anthropic.messages", "anthropic"),
        ("together_ai", "together_ai"),
        ("Some.Unknown.Provider", "some.unknown.provider"),
    ],
)
def test_provider_values_are_canonicalised(raw: str, canonical: str) -> None:
    assert canonical_provider(raw) == canonical
    assert run("chat m", {"gen_ai.provider.name": raw}).provider == canonical


def test_provider_priority_and_fallbacks() -> None:
    both = {"gen_ai.provider.name": "azure.ai.openai", "gen_ai.system": "openai"}
    assert run("chat", both).provider == "azure.ai.openai"
    assert run("chat", {"llm.system": "openai", "llm.provider": "aws"}).provider == "aws.bedrock"
    # Nothing named on the span: the resource, then the server address.
    assert run("chat", {}, {"gen_ai.provider.name": "groq"}).provider == "groq"
    server = {"server.address": "my-deploy.openai.azure.com"}
    assert run("chat", server).provider == "azure.ai.openai"
    assert run("chat", {"server.address": "llm.internal"}).provider is None
    assert run("chat", {"gen_ai.system": "   "}).provider is None


# --- the token rule -----------------------------------------------------------------------


def tokens(attributes: dict[str, Any]) -> tuple[int | None, ...]:
    result = run("chat m", {"gen_ai.operation.name": "chat", **attributes})
    return (
        result.input_tokens,
        result.output_tokens,
        result.cache_read_tokens,
        result.cache_write_tokens,
        result.reasoning_tokens,
    )


IN, OUT = "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"
READ, WRITE = "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_write.input_tokens"
REASON = "gen_ai.usage.reasoning.output_tokens"


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        # Inclusive reporter (the spec): stored as sent.
        pytest.param({IN: 1000, READ: 600, WRITE: 100}, (1000, None, 600, 100, None), id="incl"),
        # Everything cached: cache == input is still inclusive.
        pytest.param({IN: 700, READ: 700}, (700, None, 700, None, None), id="all-cached"),
        # Cache exceeds input: the input was exclusive, add the cache back.
        pytest.param({IN: 30, READ: 600, WRITE: 100}, (730, None, 600, 100, None), id="excl"),
        # Cache but no input at all: input is at least the cache.
        pytest.param({READ: 50, WRITE: 5}, (55, None, 50, 5, None), id="cache-only"),
        # Reasoning inside output (OpenAI): as sent; exclusive: added; alone: output = it.
        pytest.param({OUT: 500, REASON: 320}, (None, 500, None, None, 320), id="reasoning-in"),
        pytest.param({OUT: 80, REASON: 320}, (None, 400, None, None, 320), id="reasoning-ex"),
        pytest.param({REASON: 12}, (None, 12, None, None, 12), id="reasoning-only"),
        pytest.param({IN: 0, OUT: 0, READ: 0}, (0, 0, 0, None, None), id="zeros"),
        # Vercel: noCacheTokens + cache parts; never below the reported inclusive total.
        pytest.param(
            {
                "ai.usage.inputTokens": 1000,
                "ai.usage.inputTokenDetails.noCacheTokens": 200,
                "ai.usage.inputTokenDetails.cacheReadTokens": 800,
            },
            (1000, None, 800, None, None),
            id="vercel-nocache",
        ),
        pytest.param(
            {
                "ai.usage.inputTokens": 1000,
                "ai.usage.inputTokenDetails.noCacheTokens": 200,
                "ai.usage.inputTokenDetails.cacheReadTokens": 500,
            },
            (1000, None, 500, None, None),
            id="vercel-nocache-partial-details",
        ),
        pytest.param(
            {
                "ai.usage.inputTokenDetails.noCacheTokens": 200,
                "ai.usage.inputTokenDetails.cacheReadTokens": 800,
                "ai.usage.inputTokenDetails.cacheWriteTokens": 50,
            },
            (1050, None, 800, 50, None),
            id="vercel-nocache-no-total",
        ),
        # Token counts sent as strings or whole floats are read as integers.
        pytest.param({IN: "42", OUT: 7.0}, (42, 7, None, None, None), id="lenient-types"),
        # Known limitation: exclusive input larger than its cache counts cannot be told
        # from inclusive input, so 1000 uncached + 200 cached is stored as 1000 in total.
        pytest.param({IN: 1000, READ: 200}, (1000, None, 200, None, None), id="undetectable"),
    ],
)
def test_token_rule(attributes: dict[str, Any], expected: tuple[int | None, ...]) -> None:
    assert tokens(attributes) == expected


def test_worked_example_from_the_docs() -> None:
    # docs/normalization.md, "Tokens": Anthropic raw usage, then the same call per the spec.
    exclusive = tokens({IN: 200, READ: 3000, WRITE: 1000, OUT: 400})
    inclusive = tokens({IN: 4200, READ: 3000, WRITE: 1000, OUT: 400})
    assert exclusive == inclusive == (4200, 400, 3000, 1000, None)
    uncached = 4200 - 3000 - 1000
    assert uncached == 200


def test_langfuse_usage_types_are_disjoint_and_summed() -> None:
    # As Langfuse's OpenAI integration writes them: every input-side and output-side type
    # is separate, so the stored totals are their sums.
    usage = {
        "input": 500,
        "input_cached_tokens": 1500,
        "input_audio_tokens": 100,
        "output": 80,
        "output_reasoning_tokens": 320,
        "output_audio_tokens": 20,
        "total": 2520,
    }
    result = run("gen", {"langfuse.observation.usage_details": orjson.dumps(usage).decode()})
    assert (result.input_tokens, result.cache_read_tokens) == (2100, 1500)
    assert (result.output_tokens, result.reasoning_tokens) == (420, 320)
    # Without input or output types, the span's own attributes are used.
    result = run("gen", {"langfuse.observation.usage_details": '{"total": 9}', IN: 7})
    assert result.input_tokens == 7


def test_a_bad_value_under_a_losing_key_is_ignored_and_kept() -> None:
    result = run("chat", {IN: 10, "gen_ai.usage.prompt_tokens": "n/a"})
    assert result.input_tokens == 10
    assert result.remainder == {"gen_ai.usage.prompt_tokens": "n/a"}


# --- rejections ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({IN: -1}, "negative"),
        ({OUT: "12 tokens"}, "whole number"),
        ({IN: "1e3"}, "whole number"),
        ({IN: 12.5}, "whole number"),
        ({IN: math.nan}, "whole number"),
        ({IN: math.inf}, "whole number"),
        ({IN: True}, "boolean"),
        ({IN: [1, 2]}, "must be a number"),
        ({IN: MAX_TOKENS + 1}, "exceeds"),
        ({READ: 10**12}, "exceeds"),
        ({"llm.token_count.completion": -5}, "negative"),
        ({"ai.usage.inputTokenDetails.noCacheTokens": -1}, "negative"),
        # Each part under the limit, the stored total over it.
        ({IN: 10, READ: MAX_TOKENS, WRITE: MAX_TOKENS}, "exceeds"),
        ({OUT: 10, REASON: MAX_TOKENS}, "exceeds"),
        ({"gen_ai.usage.cost": math.nan}, "finite"),
        ({"gen_ai.usage.cost": "NaN"}, "finite"),
        ({"llm.cost.total": math.inf}, "finite"),
        ({"operation.cost": -0.01}, "out of range"),
        ({"gen_ai.cost.total_cost": "cheap"}, "must be a number"),
        ({"gen_ai.usage.cost": True}, "must be a number"),
        ({"gen_ai.usage.cost": 2_000_000}, "out of range"),
        ({"langfuse.observation.usage_details": "{not json"}, "not valid JSON"),
        ({"langfuse.observation.usage_details": "[1, 2]"}, "JSON object"),
        ({"langfuse.observation.usage_details": '{"input": -3}'}, "negative"),
        ({"langfuse.observation.usage_details": '{"prompt_tokens": "x"}'}, "whole number"),
        ({"langfuse.observation.cost_details": '{"total": "NaN"}'}, "finite"),
        ({"langfuse.observation.cost_details": '{"input": -1}'}, "out of range"),
        ({"langfuse.observation.cost_details": 3}, "JSON object"),
        # A dimension whose value cannot be stored as JSON.
        ({"session.id": [10**30]}, "cannot be stored"),
    ],
)
def test_invalid_values_reject_the_span(attributes: dict[str, Any], message: str) -> None:
    with pytest.raises(SpanRejected, match=re.escape(message)):
        run("chat m", {"gen_ai.operation.name": "chat", **attributes})


def test_rejected_span_on_a_rollup_too() -> None:
    with pytest.raises(SpanRejected):
        run("invoke_agent a", {"gen_ai.operation.name": "invoke_agent", IN: -1})


# --- dimensions: configuration and resource -------------------------------------------------


def test_custom_feature_and_tenant_keys_replace_the_defaults() -> None:
    normalizer = Normalizer(DimensionRules(feature_keys=("x.product",), tenant_keys=("x.org",)))
    attributes = {"x.product": "search", "x.org": "acme", "spendscope.feature": "ignored"}
    result = run("chat", attributes, normalizer=normalizer)
    assert (result.feature, result.tenant_id) == ("search", "acme")
    assert result.remainder == {"spendscope.feature": "ignored"}


def test_custom_keys_may_also_be_keys_of_other_concepts() -> None:
    # Feature = the agent's name, tenant = the user: each key fills both concepts.
    rules = DimensionRules(feature_keys=("gen_ai.agent.name",), tenant_keys=("user.id",))
    attributes = {"gen_ai.agent.name": "support", "user.id": "u-1", "other": 1}
    result = run("invoke_agent", attributes, normalizer=Normalizer(rules))
    assert (result.feature, result.agent_name) == ("support", "support")
    assert (result.tenant_id, result.user_id) == ("u-1", "u-1")
    assert result.remainder == {"other": 1}


def test_feature_priority_follows_the_configured_order() -> None:
    attributes = {"gen_ai.workflow.name": "wf", "app.feature": "app", "feature": "plain"}
    assert run("x", attributes).feature == "app"
    assert run("x", {"gen_ai.workflow.name": "wf", "langfuse.trace.name": "lf"}).feature == "wf"


@pytest.mark.parametrize(
    ("pattern", "span_name", "from_service", "expected"),
    [
        (r"^POST /api/(\w+)", "POST /api/search", False, "search"),
        (r"^POST /api/\w+", "POST /api/search", False, "POST /api/search"),
        (r"^POST /api/(\w+)", "GET /health", False, None),
        (r"^POST /api/(\w+)", "GET /health", True, "support-api"),
        (r"^POST /api/(\w+)", "POST /api/search", True, "search"),
        (None, "anything", True, "support-api"),
        (None, "anything", False, None),
    ],
)
def test_feature_defaults_from_span_name_and_service(
    pattern: str | None, span_name: str, from_service: bool, expected: str | None
) -> None:
    rules = dataclasses.replace(
        DEFAULT_RULES,
        feature_span_name_pattern=re.compile(pattern) if pattern else None,
        feature_from_service=from_service,
    )
    result = run(span_name, {}, SERVICE_RESOURCE, Normalizer(rules))
    assert result.feature_default == expected
    assert result.feature is None  # a default never poses as an explicit feature


def test_rules_come_from_settings_and_their_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    from collector.service import dimension_rules  # the app's own wiring (imports FastAPI: slow)

    monkeypatch.setenv("SPENDSCOPE_FEATURE_ATTRIBUTES", "team.feature, product")
    monkeypatch.setenv("SPENDSCOPE_TENANT_ATTRIBUTES", "org.id")
    monkeypatch.setenv("SPENDSCOPE_FEATURE_SPAN_NAME_PATTERN", r"^job (\w+)")
    monkeypatch.setenv("SPENDSCOPE_FEATURE_FROM_SERVICE", "true")
    rules = dimension_rules(Settings())
    assert rules.feature_keys == ("team.feature", "product")
    assert rules.tenant_keys == ("org.id",)
    assert rules.feature_from_service
    result = run("job nightly", {"product": "reports", "org.id": "o-9"}, None, Normalizer(rules))
    assert (result.feature, result.tenant_id, result.feature_default) == (
        "reports",
        "o-9",
        "nightly",
    )


def test_default_rules_match_the_settings_defaults() -> None:
    fields = Settings.model_fields
    feature = fields["feature_attributes"].get_default(call_default_factory=True)
    tenant = fields["tenant_attributes"].get_default(call_default_factory=True)
    assert DEFAULT_RULES.feature_keys == tuple(feature)
    assert DEFAULT_RULES.tenant_keys == tuple(tenant)
    assert DEFAULT_RULES.feature_keys[0] == "spendscope.feature"
    assert DEFAULT_RULES.tenant_keys[0] == "spendscope.tenant"


def test_span_dimensions_override_the_resource() -> None:
    resource = {
        "service.name": "api",
        "deployment.environment": "production",
        "spendscope.feature": "from-resource",
        "spendscope.tenant": "acme",
        "user.id": "resource-user",
        "gen_ai.agent.name": "resource-agent",
    }
    span = {"gen_ai.workflow.name": "from-span", "enduser.id": "span-user", "agent.name": "a"}
    result = run("x", span, resource)
    # A span-level value wins even when its key ranks lower than the resource's.
    assert result.feature == "from-span"
    assert result.user_id == "span-user"
    assert result.agent_name == "a"
    # What the span does not set, the resource lends.
    assert (result.tenant_id, result.environment, result.service) == ("acme", "production", "api")


def test_resource_lends_dimensions_not_what_a_span_is() -> None:
    resource = {
        "service.name": "api",
        "openinference.span.kind": "LLM",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 5,
        "traceloop.span.kind": "workflow",
    }
    result = run("GET /health", {}, resource)
    assert dataclasses.asdict(result) == record(service="api")


def test_resource_context_holds_only_dimensions() -> None:
    resource = {
        "service.name": "api",
        "gen_ai.provider.name": "openai",
        "gen_ai.operation.name": "chat",
        "openinference.span.kind": "LLM",
        "gen_ai.usage.input_tokens": 5,
        "gen_ai.request.model": "gpt-4o",
        "spendscope.tenant": "acme",
    }
    context = NORMALIZER.resource_context(resource)
    assert sorted(context.values()) == ["acme", "api", "openai"]


@pytest.mark.parametrize(
    "attributes",
    [
        # An OpenLLMetry @task around a call that also tags itself with the request type.
        {"traceloop.span.kind": "task", "llm.request.type": "chat", IN: 10},
        {"gen_ai.operation.name": "chat", "openinference.span.kind": "AGENT", IN: 10},
        {"langfuse.observation.type": "generation", "gen_ai.aggregated_usage.input_tokens": 10},
        {"gen_ai.operation.name": "chat", "langfuse.observation.type": "chain", IN: 10},
    ],
)
def test_rollup_markers_win_over_call_markers(attributes: dict[str, Any]) -> None:
    result = run("litellm_request", attributes)
    assert result.is_usage_rollup
    assert not result.is_model_call


def test_traceloop_agent_entity_beats_a_resource_agent() -> None:
    span = {"traceloop.span.kind": "agent", "traceloop.entity.name": "researcher"}
    assert run("x", span, {"gen_ai.agent.name": "default"}).agent_name == "researcher"
    assert run("x", {}, {"gen_ai.agent.name": "default"}).agent_name == "default"


def test_service_falls_back_to_the_openlit_application_name() -> None:
    assert run("x", {"gen_ai.application_name": "kb"}).service == "kb"
    assert run("x", {"gen_ai.application_name": "kb"}, {"service.name": "svc"}).service == "svc"


def test_non_string_dimension_values_are_stored_as_text() -> None:
    result = run("x", {"user.id": 12345, "session.id": True, "spendscope.tenant": ["a", "b"]})
    assert (result.user_id, result.session_id, result.tenant_id) == ("12345", "true", '["a","b"]')


def test_empty_values_fall_through_to_the_next_key() -> None:
    result = run("x", {"gen_ai.conversation.id": "", "session.id": "s", "user.id": None})
    assert (result.session_id, result.user_id) == ("s", None)


def test_concept_table_has_no_duplicate_keys_within_a_concept() -> None:
    for concept, keys in CONCEPT_KEYS.items():
        assert len(keys) == len(set(keys)), concept


DOC = REPO / "docs" / "normalization.md"
DOC_CONCEPTS = {
    "provider": PROVIDER,
    "operation": OPERATION,
    "response model": RESPONSE_MODEL,
    "request model": REQUEST_MODEL,
    "input tokens": INPUT,
    "output tokens": OUTPUT,
    "cache read tokens": CACHE_READ,
    "cache write tokens": CACHE_WRITE,
    "reasoning tokens": REASONING,
    "uncached input tokens": NO_CACHE_INPUT,
    "time to first token": conventions.TIME_TO_FIRST_TOKEN,
    "reported cost": COST,
    "session": SESSION,
    "user": USER,
    "agent": AGENT,
    "environment": ENVIRONMENT,
    "service": SERVICE,
    "OpenInference span kind": OI_KIND,
    "Traceloop span kind": TL_KIND,
    "Traceloop entity": TL_ENTITY,
    "Langfuse observation type": LF_TYPE,
    "server address": SERVER_ADDRESS,
    "Langfuse usage": LF_USAGE,
    "Langfuse cost": LF_COST,
    "aggregated usage": AGGREGATED_USAGE,
    "input audio tokens": conventions.INPUT_AUDIO,
    "output audio tokens": conventions.OUTPUT_AUDIO,
    "input image tokens": conventions.INPUT_IMAGE,
    "output image tokens": conventions.OUTPUT_IMAGE,
    "service tier": conventions.SERVICE_TIER,
    "request service tier": conventions.REQUEST_TIER,
    "total tokens": conventions.TOTAL,
    "raw usage": conventions.RAW_USAGE,
    "provider metadata": conventions.PROVIDER_METADATA,
    "OpenInference output": conventions.OI_OUTPUT,
    "OpenInference invocation parameters": conventions.OI_INVOCATION,
}


def test_docs_key_table_matches_the_code() -> None:
    text = DOC.read_text()
    table = text.split("<!-- concept-keys:start -->")[1].split("<!-- concept-keys:end -->")[0]
    documented: dict[str, tuple[str, ...]] = {}
    for row in table.strip().splitlines()[2:]:
        label, keys = (cell.strip() for cell in row.strip("|").split("|")[:2])
        documented[label] = tuple(re.findall(r"`([^`]+)`", keys))
    expected = {label: CONCEPT_KEYS[concept] for label, concept in DOC_CONCEPTS.items()}
    expected["feature"] = DEFAULT_RULES.feature_keys
    expected["tenant"] = DEFAULT_RULES.tenant_keys
    assert documented == expected
    assert set(DOC_CONCEPTS.values()) == set(CONCEPT_KEYS)  # every concept is documented


# --- through the real decoders ---------------------------------------------------------------


def test_sdk_spans_through_protobuf_decode() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(SERVICE_RESOURCE))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span(
        "invoke_agent support",
        attributes={"gen_ai.operation.name": "invoke_agent", "spendscope.feature": "support"},
    ):
        with tracer.start_as_current_span(
            "chat gpt-4o",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "OpenAI",
                "gen_ai.request.model": "gpt-4o",
                IN: 300,
                READ: 200,
                OUT: 20,
                "gen_ai.response.finish_reasons": ("stop",),
            },
        ):
            pass
        with tracer.start_as_current_span("execute_tool x", attributes={IN: -1}):
            pass
    provider.shutdown()
    body = encode_spans(exporter.get_finished_spans()).SerializeToString()

    decoded = decode_traces(body, PROTOBUF, NORMALIZER)

    assert (decoded.accepted, decoded.rejected) == (2, 1)
    assert "gen_ai.usage.input_tokens is negative" in decoded.rejection_message
    rows = {row["name"]: row for row in decoded.table.to_pylist()}
    chat = rows["chat gpt-4o"]
    assert chat["is_model_call"] and not chat["is_usage_rollup"]
    assert (chat["provider"], chat["input_tokens"], chat["cache_read_tokens"]) == (
        "openai",
        300,
        200,
    )
    assert (chat["service"], chat["environment"]) == ("support-api", "production")
    assert orjson.loads(chat["attributes"]) == {
        "gen_ai.provider.name": "OpenAI",
        "gen_ai.response.finish_reasons": ["stop"],
    }
    root = rows["invoke_agent support"]
    assert root["is_usage_rollup"] and not root["is_model_call"]
    assert root["feature"] == "support"
    assert root["attributes"] == "{}"  # nothing left unmapped (never NULL: limits.span_json)


def json_span(span_id: str, start: int, end: int, attributes: dict[str, Any]) -> dict[str, Any]:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        return {"stringValue": v}

    return {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        "name": "chat gpt-4o",
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(end),
        "attributes": [{"key": k, "value": value(v)} for k, v in attributes.items()],
    }


def test_json_decode_clamps_end_before_start_and_rejects_spans_one_by_one() -> None:
    start = 1_763_000_000_000_000_000
    call = {"gen_ai.operation.name": "chat", IN: 10, "custom.flag": True}
    spans = [
        json_span("eee4a2b3c4d5e6f7", start, start - 5, call),  # end before start: clamped
        json_span("0000000000000000", start, start + 1, call),  # all-zero span id
        json_span("aaa4a2b3c4d5e6f7", 0, start, call),  # no start time
        json_span("bbb4a2b3c4d5e6f7", start, start + 1, {IN: MAX_TOKENS + 1}),
        json_span("ccc4a2b3c4d5e6f7", start, start + 1, {"gen_ai.usage.cost": "NaN"}),
    ]
    body = orjson.dumps(
        {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {}, "spans": spans}]}]}
    )

    decoded = decode_traces(body, JSON, NORMALIZER)

    assert (decoded.accepted, decoded.rejected) == (1, 4)
    [row] = decoded.table.to_pylist()
    assert row["end_ns"] == row["start_ns"] == start
    assert row["input_tokens"] == 10
    assert orjson.loads(row["attributes"]) == {"custom.flag": True}


# --- properties ------------------------------------------------------------------------------

COUNT = st.one_of(
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=2 * MAX_TOKENS),
)
TOKEN_LAYOUTS = {
    "otel": (IN, OUT, READ, WRITE, REASON),
    "older": (
        "gen_ai.usage.prompt_tokens",
        "gen_ai.usage.completion_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "gen_ai.usage.reasoning_tokens",
    ),
    "openinference": (
        "llm.token_count.prompt",
        "llm.token_count.completion",
        "llm.token_count.prompt_details.cache_read",
        "llm.token_count.prompt_details.cache_write",
        "llm.token_count.completion_details.reasoning",
    ),
    "vercel": (
        "ai.usage.inputTokens",
        "ai.usage.outputTokens",
        "ai.usage.inputTokenDetails.cacheReadTokens",
        "ai.usage.inputTokenDetails.cacheWriteTokens",
        "ai.usage.outputTokenDetails.reasoningTokens",
    ),
    "langfuse": (
        "input",
        "output",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "reasoning",
    ),
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layout=st.sampled_from(sorted(TOKEN_LAYOUTS)),
    counts=st.lists(st.none() | COUNT, min_size=5, max_size=5),
    no_cache=st.none() | COUNT,
)
def test_stored_tokens_never_count_a_token_twice_nor_lose_one(
    layout: str, counts: list[int | None], no_cache: int | None
) -> None:
    keys = TOKEN_LAYOUTS[layout]
    present = {key: count for key, count in zip(keys, counts, strict=True) if count is not None}
    if layout == "langfuse":
        attributes: dict[str, Any] = {"langfuse.observation.usage_details": present}
    else:
        attributes = dict(present)
        if layout == "vercel" and no_cache is not None:
            attributes["ai.usage.inputTokenDetails.noCacheTokens"] = no_cache
    try:
        result = run("chat m", attributes)
    except SpanRejected as exc:
        assert "exceeds" in str(exc)  # only size can reject non-negative whole numbers
        assert max([*present.values(), no_cache or 0]) > MAX_TOKENS // 4
        return
    read = result.cache_read_tokens or 0
    write = result.cache_write_tokens or 0
    reasoning = result.reasoning_tokens or 0
    assert (result.input_tokens or 0) >= read + write
    assert (result.output_tokens or 0) >= reasoning
    for stored in (result.input_tokens, result.output_tokens):
        assert stored is None or 0 <= stored <= MAX_TOKENS
    # Nothing reported is lost: the totals cover what was sent.
    sent_input, sent_output = counts[0], counts[1]
    if sent_input is not None:
        assert (result.input_tokens or 0) >= sent_input
    if sent_output is not None:
        assert (result.output_tokens or 0) >= sent_output


KNOWN_KEYS = sorted(
    {key for keys in CONCEPT_KEYS.values() for key in keys}
    | set(DEFAULT_RULES.feature_keys)
    | set(DEFAULT_RULES.tenant_keys)
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["chat", "invoke_agent", "LLM", "CHAIN", "workflow", "generation", "NaN"])
    | st.sampled_from(['{"input": 1, "output": 2}', '{"total": "x"}', "{", "[]", "12"])
)
VALUES = (
    SCALARS
    | st.lists(SCALARS, max_size=3)
    | st.dictionaries(st.text(max_size=6), SCALARS, max_size=3)
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["chat m", "ai.generateText", "litellm_request", "ai.x.doGenerate", "x"]),
    attributes=st.dictionaries(
        st.sampled_from(KNOWN_KEYS) | st.text(max_size=6), VALUES, max_size=8
    ),
    resource=st.dictionaries(st.sampled_from(KNOWN_KEYS), SCALARS, max_size=3),
)
def test_any_input_either_normalizes_or_is_rejected(
    name: str, attributes: dict[str, Any], resource: dict[str, Any]
) -> None:
    try:
        result = NORMALIZER.normalize(name, attributes, NORMALIZER.resource_context(resource))
    except SpanRejected:
        return
    assert not (result.is_model_call and result.is_usage_rollup)
    assert set(result.remainder) <= set(attributes)
    for count in (result.input_tokens, result.output_tokens, result.cache_read_tokens):
        assert count is None or 0 <= count <= MAX_TOKENS
    cost = result.reported_cost_usd
    assert cost is None or (math.isfinite(cost) and cost >= 0)
