"""Token conventions by instrumentation: one span per emitter, shaped as its source emits it
(instrumentation scope name plus attributes; the sources are cited in docs/normalization.md),
and the usage record we must store for it.

Each case id is the `test` of a row of `collector.ingest.emitters.EMITTERS`; a row without a
case, or a docs table that differs from the code table, fails here.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from collector.ingest.columns import SpanColumns
from collector.ingest.emitters import EMITTERS, UNKNOWN, Emitter, TierRule, find_emitter
from collector.ingest.normalize import Normalizer
from collector.ingest.raw_usage import MAX_RAW_JSON
from collector.ingest.service_tier import served_tier
from tests.support.paths import REPO

NORMALIZER = Normalizer()

# The usage fields of the record; a case states the ones that are not None.
FIELDS = (
    "provider",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cache_write_1h_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "input_image_tokens",
    "output_image_tokens",
    "service_tier",
    "web_search_calls",
    "pricing_assumption",
)


def case(id: str, scope: str, name: str, attributes: dict[str, Any], **expected: Any) -> Any:
    unknown = set(expected) - set(FIELDS)
    assert not unknown, unknown
    return pytest.param(scope, name, attributes, {f: expected.get(f) for f in FIELDS}, id=id)


def js(value: Any) -> str:
    return orjson.dumps(value).decode()


TL = "opentelemetry.instrumentation"
OI = "openinference.instrumentation"
OL = "openlit.instrumentation"
CHAT = {"gen_ai.operation.name": "chat"}
OI_LLM = {"openinference.span.kind": "LLM"}
# One Anthropic call (200 new input tokens, 4,000 read from the cache, 1,000 written to it,
# 700 out) as the inclusive emitters send it, and as every emitter must store it.
GENAI_ANTHROPIC = {
    "gen_ai.usage.input_tokens": 5200,
    "gen_ai.usage.output_tokens": 700,
    "gen_ai.usage.cache_read.input_tokens": 4000,
    "gen_ai.usage.cache_creation.input_tokens": 1000,
}
OI_ANTHROPIC = {
    "llm.token_count.prompt": 5200,
    "llm.token_count.completion": 700,
    "llm.token_count.prompt_details.cache_read": 4000,
    "llm.token_count.prompt_details.cache_write": 1000,
}
ANTHROPIC_STORED: dict[str, Any] = {
    "provider": "anthropic",
    "input_tokens": 5200,
    "output_tokens": 700,
    "cache_read_tokens": 4000,
    "cache_write_tokens": 1000,
}

# A streamed OpenLIT openai call that asked for priority; its response tier is "default".
OPENLIT_STREAMED = {
    **CHAT,
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-5",
    "gen_ai.request.stream": True,
    "gen_ai.usage.input_tokens": 20000,
    "gen_ai.usage.output_tokens": 1500,
    "openai.response.service_tier": "default",
    "openai.request.service_tier": "priority",
}
OPENLIT_STREAMED_STORED = {"provider": "openai", "input_tokens": 20000, "output_tokens": 1500}

CASES = [
    # OpenLLMetry openai (shared/__init__.py): prompt_tokens inclusive, reasoning inside,
    # cache reads always set, the response's service tier.
    case(
        "openllmetry-openai",
        f"{TL}.openai.v1",
        "openai.chat",
        {
            **CHAT,
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-5",
            "gen_ai.response.model": "gpt-5-2025-08-07",
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 900,
            "gen_ai.usage.cache_read.input_tokens": 1000,
            "gen_ai.usage.reasoning_tokens": 600,
            "llm.usage.total_tokens": 2100,
            "openai.request.service_tier": "flex",
            "openai.response.service_tier": "flex",
        },
        provider="openai",
        input_tokens=1200,
        output_tokens=900,
        cache_read_tokens=1000,
        reasoning_tokens=600,
        service_tier="flex",
    ),
    # OpenLLMetry anthropic: `_set_token_usage` overwrites the raw input with the inclusive sum.
    case(
        "openllmetry-anthropic",
        f"{TL}.anthropic",
        "anthropic.chat",
        {
            **CHAT,
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            **GENAI_ANTHROPIC,
        },
        **ANTHROPIC_STORED,
    ),
    # ... unless `_set_token_usage` failed and the raw (exclusive) input stayed: it cannot be
    # inclusive, so the cache is added and the contradiction flagged.
    case(
        "openllmetry-anthropic-raw-input-left",
        f"{TL}.anthropic",
        "anthropic.chat",
        {
            **CHAT,
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 200,
            "gen_ai.usage.output_tokens": 700,
            "gen_ai.usage.cache_read.input_tokens": 4000,
            "gen_ai.usage.cache_creation.input_tokens": 1000,
        },
        **ANTHROPIC_STORED,
        pricing_assumption="input_inclusion_contradicted",
    ),
    # OpenLLMetry google_generativeai: output = candidates only, thinking dropped; the
    # provider total lets it be recovered.
    case(
        "openllmetry-gemini",
        f"{TL}.google_generativeai",
        "gemini.generate_content",
        {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.provider.name": "gcp.gen_ai",
            "gen_ai.request.model": "gemini-2.5-pro",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 200,
            "gen_ai.usage.cache_read.input_tokens": 0,
            "gen_ai.usage.total_tokens": 1500,
        },
        provider="gcp.gen_ai",
        input_tokens=1000,
        output_tokens=500,
        cache_read_tokens=0,
        reasoning_tokens=300,
        pricing_assumption="reasoning_from_total",
    ),
    # OpenLLMetry vertexai: gen_ai.system "Google", no operation name, total in llm.usage.*.
    case(
        "openllmetry-vertexai",
        f"{TL}.vertexai",
        "vertexai.generate_content",
        {
            "gen_ai.system": "Google",
            "llm.request.type": "completion",
            "gen_ai.request.model": "gemini-2.5-flash",
            "gen_ai.usage.input_tokens": 800,
            "gen_ai.usage.output_tokens": 100,
            "llm.usage.total_tokens": 1000,
        },
        provider="gcp.vertex_ai",
        input_tokens=800,
        output_tokens=200,
        reasoning_tokens=100,
        pricing_assumption="reasoning_from_total",
    ),
    # OpenLLMetry bedrock (InvokeModel, Anthropic): raw uncached input; cache from headers.
    case(
        "openllmetry-bedrock",
        f"{TL}.bedrock",
        "bedrock.completion",
        {
            **CHAT,
            "gen_ai.provider.name": "aws.bedrock",
            "gen_ai.request.model": "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "gen_ai.usage.input_tokens": 4000,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 3000,
            "gen_ai.usage.cache_creation.input_tokens": 0,
            "gen_ai.prompt_caching": "read",
        },
        provider="aws.bedrock",
        input_tokens=7000,
        output_tokens=300,
        cache_read_tokens=3000,
        cache_write_tokens=0,
    ),
    case(
        "openllmetry-langchain",
        f"{TL}.langchain",
        "ChatAnthropic.chat",
        {
            **CHAT,
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-haiku-4-5",
            "gen_ai.usage.input_tokens": 2000,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.usage.cache_read.input_tokens": 1500,
            "gen_ai.usage.cache_creation.input_tokens": 0,
        },
        provider="anthropic",
        input_tokens=2000,
        output_tokens=100,
        cache_read_tokens=1500,
        cache_write_tokens=0,
    ),
    # OTel contrib openai-v2 (legacy attributes): no cached-token attribute at all.
    case(
        "otel-openai-v2",
        f"{TL}.openai_v2",
        "chat gpt-4o",
        {
            **CHAT,
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 50,
            "gen_ai.openai.response.service_tier": "default",
        },
        provider="openai",
        input_tokens=1000,
        output_tokens=50,
        service_tier="default",
        pricing_assumption="cache_not_reported",
    ),
    # OTel contrib google-genai: output_tokens += thoughts ("the sem conv recommends...").
    case(
        "otel-google-genai",
        f"{TL}.google_genai",
        "generate_content gemini-2.5-flash",
        {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.system": "gemini",
            "gen_ai.request.model": "gemini-2.5-flash",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 500,
        },
        provider="gcp.gemini",
        input_tokens=1000,
        output_tokens=500,
    ),
    case(
        "otel-genai-anthropic",
        f"{TL}.genai.anthropic",
        "chat claude-sonnet-4-5",
        {
            **CHAT,
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 5200,
            "gen_ai.usage.output_tokens": 700,
            "gen_ai.usage.cache_read.input_tokens": 4000,
            "gen_ai.usage.cache_write.input_tokens": 1000,
        },
        **ANTHROPIC_STORED,
    ),
    # OpenInference openai on gpt-audio: audio counts are subsets of prompt / completion.
    case(
        "oi-openai",
        f"{OI}.openai",
        "ChatCompletion",
        {
            **OI_LLM,
            "llm.system": "openai",
            "llm.provider": "openai",
            "llm.model_name": "gpt-audio",
            "llm.token_count.prompt": 1000,
            "llm.token_count.completion": 400,
            "llm.token_count.total": 1400,
            "llm.token_count.prompt_details.audio": 600,
            "llm.token_count.completion_details.audio": 300,
        },
        provider="openai",
        input_tokens=1000,
        output_tokens=400,
        input_audio_tokens=600,
        output_audio_tokens=300,
    ),
    case(
        "oi-anthropic",
        f"{OI}.anthropic",
        "Messages",
        {
            **OI_LLM,
            "llm.system": "anthropic",
            "llm.provider": "anthropic",
            "llm.model_name": "claude-sonnet-4-5-20250929",
            **OI_ANTHROPIC,
        },
        **ANTHROPIC_STORED,
    ),
    # OpenInference has no tier attribute: the served tier is the response body's
    # (`output.value`), which beats the request's (`llm.invocation_parameters`).
    case(
        "oi-openai-tier-from-the-response-body",
        f"{OI}.openai",
        "ChatCompletion",
        {
            **OI_LLM,
            "llm.system": "openai",
            "llm.model_name": "gpt-5-2025-08-07",
            "llm.token_count.prompt": 12000,
            "llm.token_count.completion": 900,
            "llm.invocation_parameters": js({"model": "gpt-5", "service_tier": "auto"}),
            "output.value": js(
                {
                    "object": "chat.completion",
                    "model": "gpt-5-2025-08-07",
                    "service_tier": "priority",
                    "usage": {"prompt_tokens": 12000, "completion_tokens": 900},
                }
            ),
        },
        provider="openai",
        input_tokens=12000,
        output_tokens=900,
        service_tier="priority",
    ),
    # ... with outputs hidden (OPENINFERENCE_HIDE_OUTPUTS), the request's tier stands in:
    # priced by it, and flagged.
    case(
        "oi-openai-outputs-hidden-tier-from-request",
        f"{OI}.openai",
        "Response",
        {
            **OI_LLM,
            "llm.system": "openai",
            "llm.model_name": "gpt-5-2025-08-07",
            "llm.token_count.prompt": 20000,
            "llm.token_count.completion": 1500,
            "llm.invocation_parameters": js({"model": "gpt-5", "service_tier": "flex"}),
            "output.value": "__REDACTED__",
        },
        provider="openai",
        input_tokens=20000,
        output_tokens=1500,
        service_tier="flex",
        pricing_assumption="service_tier_from_request",
    ),
    # OpenInference anthropic: the 1-hour cache writes only in the body's usage object.
    case(
        "oi-anthropic-cache-ttl-from-the-response-body",
        f"{OI}.anthropic",
        "messages.create",
        {
            **OI_LLM,
            "llm.system": "anthropic",
            "llm.provider": "anthropic",
            "llm.model_name": "claude-sonnet-4-5-20250929",
            **OI_ANTHROPIC,
            "llm.invocation_parameters": js({"max_tokens": 1024}),
            "output.value": js(
                {
                    "type": "message",
                    "usage": {
                        "input_tokens": 200,
                        "cache_read_input_tokens": 4000,
                        "cache_creation_input_tokens": 1000,
                        "cache_creation": {
                            "ephemeral_5m_input_tokens": 400,
                            "ephemeral_1h_input_tokens": 600,
                        },
                        "output_tokens": 700,
                        "service_tier": "standard",
                    },
                }
            ),
        },
        **ANTHROPIC_STORED,
        cache_write_1h_tokens=600,
        service_tier="default",
    ),
    # OpenInference langchain, Gemini `generation_info` path: completion = candidates only.
    case(
        "oi-langchain-gemini",
        f"{OI}.langchain",
        "ChatGoogleGenerativeAI",
        {
            **OI_LLM,
            "llm.provider": "google",
            "llm.model_name": "gemini-2.5-pro",
            "llm.token_count.prompt": 1000,
            "llm.token_count.completion": 200,
            "llm.token_count.total": 1400,
        },
        provider="gcp.gemini",
        input_tokens=1000,
        output_tokens=400,
        reasoning_tokens=200,
        pricing_assumption="reasoning_from_total",
    ),
    case(
        "oi-langchain",
        f"{OI}.langchain",
        "ChatOpenAI",
        {
            **OI_LLM,
            "llm.provider": "openai",
            "llm.system": "openai",
            "llm.model_name": "o4-mini",
            "llm.token_count.prompt": 1000,
            "llm.token_count.completion": 400,
            "llm.token_count.prompt_details.cache_read": 200,
            "llm.token_count.completion_details.reasoning": 300,
        },
        provider="openai",
        input_tokens=1000,
        output_tokens=400,
        cache_read_tokens=200,
        reasoning_tokens=300,
    ),
    case(
        "oi-llama-index",
        f"{OI}.llama_index",
        "Anthropic.chat",
        {
            **OI_LLM,
            "llm.provider": "anthropic",
            "llm.model_name": "claude-sonnet-4-5",
            **OI_ANTHROPIC,
        },
        **ANTHROPIC_STORED,
    ),
    # OpenInference litellm writes text tokens under `...prompt_details.cache_input`: not a
    # cache count, never read as one.
    case(
        "oi-litellm",
        f"{OI}.litellm",
        "completion",
        {
            **OI_LLM,
            "llm.provider": "openai",
            "llm.model_name": "gpt-4o",
            "llm.token_count.prompt": 1000,
            "llm.token_count.completion": 100,
            "llm.token_count.prompt_details.cache_read": 600,
            "llm.token_count.prompt_details.cache_input": 400,
            "llm.cost.total": 0.0023,
        },
        provider="openai",
        input_tokens=1000,
        output_tokens=100,
        cache_read_tokens=600,
    ),
    # OpenLIT openai: the request tier defaults to `auto`; the response's wins.
    case(
        "openlit-openai",
        f"{OL}.openai",
        "chat gpt-5",
        {
            **CHAT,
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-5",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 500,
            "gen_ai.usage.cache_read.input_tokens": 800,
            "gen_ai.usage.cache_creation.input_tokens": 0,
            "gen_ai.usage.reasoning_tokens": 200,
            "openai.request.service_tier": "auto",
            "openai.response.service_tier": "priority",
            "gen_ai.usage.cost": 0.0061,
        },
        provider="openai",
        input_tokens=1000,
        output_tokens=500,
        cache_read_tokens=800,
        cache_write_tokens=0,
        reasoning_tokens=200,
        service_tier="priority",
    ),
    # OpenLIT 1.45 on a streamed Responses call writes its initial "default" as the response
    # tier whatever the response said (openai.py l.301): the request's wins when it differs.
    case(
        "openlit-openai-streamed-responses-tier",
        f"{OL}.openai",
        "chat gpt-5",
        {**OPENLIT_STREAMED, "openai.api.type": "responses"},
        **OPENLIT_STREAMED_STORED,
        service_tier="priority",
        pricing_assumption="service_tier_from_request",
    ),
    # ... but its response tier stands on streamed Chat Completions, and when not streamed.
    case(
        "openlit-openai-streamed-chat-tier",
        f"{OL}.openai",
        "chat gpt-5",
        {**OPENLIT_STREAMED, "openai.api.type": "chat_completions"},
        **OPENLIT_STREAMED_STORED,
        service_tier="default",
    ),
    # OpenLLMetry on a streamed call records only the request's tier: priced by it, flagged
    # (an `auto` request is read as the default tier, like a span without a tier).
    case(
        "openllmetry-openai-streamed-tier-from-request",
        f"{TL}.openai.v1",
        "openai.chat",
        {
            **CHAT,
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-5",
            "gen_ai.is_streaming": True,
            "gen_ai.usage.input_tokens": 12000,
            "gen_ai.usage.output_tokens": 900,
            "openai.request.service_tier": "priority",
        },
        provider="openai",
        input_tokens=12000,
        output_tokens=900,
        service_tier="priority",
        pricing_assumption="service_tier_from_request",
    ),
    # OpenLIT anthropic: raw `usage.input_tokens`, uncached only (the measured -14..-27%:
    # with uncached >= cached the old guess read it as inclusive).
    case(
        "openlit-anthropic",
        f"{OL}.anthropic",
        "chat claude-sonnet-4-5",
        {
            **CHAT,
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 3000,
            "gen_ai.usage.output_tokens": 200,
            "gen_ai.usage.cache_read.input_tokens": 1000,
            "gen_ai.usage.cache_creation.input_tokens": 500,
        },
        provider="anthropic",
        input_tokens=4500,
        output_tokens=200,
        cache_read_tokens=1000,
        cache_write_tokens=500,
    ),
    # OpenLIT google_ai_studio: output = candidates, thoughts beside it (-24.5% measured).
    case(
        "openlit-gemini",
        f"{OL}.google_ai_studio",
        "chat gemini-2.5-pro",
        {
            **CHAT,
            "gen_ai.system": "gemini",
            "gen_ai.request.model": "gemini-2.5-pro",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.reasoning_tokens": 250,
            "gen_ai.usage.cache_read.input_tokens": 0,
            "gen_ai.usage.cache_creation.input_tokens": 0,
        },
        provider="gcp.gemini",
        input_tokens=1000,
        output_tokens=550,
        cache_read_tokens=0,
        cache_write_tokens=0,
        reasoning_tokens=250,
    ),
    # OpenLIT vertexai: thoughts never read and no provider total: cannot be recovered.
    case(
        "openlit-vertexai",
        f"{OL}.vertexai",
        "chat gemini-2.5-pro",
        {
            **CHAT,
            "gen_ai.system": "vertex_ai",
            "gen_ai.request.model": "gemini-2.5-pro",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.client.token.usage": 1300,
        },
        provider="gcp.vertex_ai",
        input_tokens=1000,
        output_tokens=300,
        pricing_assumption="reasoning_not_reported",
    ),
    case(
        "openlit-litellm",
        f"{OL}.litellm",
        "chat gpt-4o",
        {
            **CHAT,
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.usage.cache_read.input_tokens": 500,
            "openai.request.service_tier": "auto",
        },
        provider="openai",
        input_tokens=1000,
        output_tokens=100,
        cache_read_tokens=500,
        service_tier="default",
    ),
    # Pydantic AI: inclusive buckets; `details.*` are subsets, audio among them.
    case(
        "pydantic-ai",
        "pydantic-ai",
        "chat gpt-4o-audio-preview",
        {
            **CHAT,
            "gen_ai.provider.name": "openai",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-audio-preview",
            "gen_ai.usage.input_tokens": 1800,
            "gen_ai.usage.output_tokens": 220,
            "gen_ai.usage.cache_read.input_tokens": 1280,
            "gen_ai.usage.details.reasoning_tokens": 40,
            "gen_ai.usage.details.input_audio_tokens": 300,
            "gen_ai.usage.details.output_audio_tokens": 20,
            "operation.cost": 0.0061,
        },
        provider="openai",
        input_tokens=1800,
        output_tokens=220,
        cache_read_tokens=1280,
        reasoning_tokens=40,
        input_audio_tokens=300,
        output_audio_tokens=20,
    ),
    # Logfire anthropic: inclusive input; cache, TTL split, tier and searches only in raw.
    case(
        "logfire-anthropic",
        "logfire.anthropic",
        "Message with 'claude-sonnet-4-5'",
        {
            **CHAT,
            "gen_ai.system": "anthropic",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 6000,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.raw": js(
                {
                    "input_tokens": 1000,
                    "cache_read_input_tokens": 3000,
                    "cache_creation_input_tokens": 2000,
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": 500,
                        "ephemeral_1h_input_tokens": 1500,
                    },
                    "output_tokens": 300,
                    "server_tool_use": {"web_search_requests": 2},
                    "service_tier": "standard",
                }
            ),
            "operation.cost": 0.0309,
        },
        provider="anthropic",
        input_tokens=6000,
        output_tokens=300,
        cache_read_tokens=3000,
        cache_write_tokens=2000,
        cache_write_1h_tokens=1500,
        service_tier="default",
        web_search_calls=2,
    ),
    case(
        "logfire-openai",
        "logfire.openai",
        "Chat Completion with 'gpt-audio'",
        {
            **CHAT,
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-audio",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 400,
            "gen_ai.usage.raw": js(
                {
                    "prompt_tokens": 1000,
                    "completion_tokens": 400,
                    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 700},
                    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 350},
                }
            ),
        },
        provider="openai",
        input_tokens=1000,
        output_tokens=400,
        cache_read_tokens=0,
        reasoning_tokens=0,
        input_audio_tokens=700,
        output_audio_tokens=350,
    ),
    # Vercel AI SDK v5, generateText on Anthropic: uncached input, no cache attribute; cache
    # writes (the measured -33%) and their 1-hour part only in providerMetadata.
    case(
        "vercel-v5-anthropic",
        "ai",
        "ai.generateText.doGenerate",
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.provider": "anthropic.messages",
            "ai.model.id": "claude-sonnet-4-5",
            "gen_ai.system": "anthropic.messages",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "ai.usage.promptTokens": 1000,
            "ai.usage.completionTokens": 200,
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 200,
            "ai.response.providerMetadata": js(
                {
                    "anthropic": {
                        "usage": {
                            "input_tokens": 1000,
                            "cache_creation_input_tokens": 2000,
                            "cache_read_input_tokens": 500,
                            "cache_creation": {
                                "ephemeral_5m_input_tokens": 0,
                                "ephemeral_1h_input_tokens": 2000,
                            },
                            "output_tokens": 200,
                            "service_tier": "standard",
                        },
                        "cacheCreationInputTokens": 2000,
                    }
                }
            ),
        },
        provider="anthropic",
        input_tokens=3500,
        output_tokens=200,
        cache_read_tokens=500,
        cache_write_tokens=2000,
        cache_write_1h_tokens=2000,
        service_tier="default",
    ),
    # Vercel v5 streamText on Google: reasoningTokens = thoughts, beside the output.
    case(
        "vercel-v5-google",
        "ai",
        "ai.streamText.doStream",
        {
            "ai.operationId": "ai.streamText.doStream",
            "ai.model.provider": "google.generative-ai",
            "ai.model.id": "gemini-2.5-pro",
            "gen_ai.system": "google.generative-ai",
            "ai.usage.inputTokens": 1000,
            "ai.usage.outputTokens": 300,
            "ai.usage.reasoningTokens": 250,
            "ai.usage.cachedInputTokens": 200,
            "ai.usage.totalTokens": 1550,
        },
        provider="gcp.gemini",
        input_tokens=1000,
        output_tokens=550,
        cache_read_tokens=200,
        reasoning_tokens=250,
    ),
    case(
        "vercel-v5-openai",
        "ai",
        "ai.generateText.doGenerate",
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.provider": "openai.responses",
            "ai.model.id": "gpt-5",
            "gen_ai.system": "openai.responses",
            "ai.usage.promptTokens": 1000,
            "ai.usage.completionTokens": 500,
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 500,
            "ai.response.providerMetadata": js(
                {
                    "openai": {
                        "responseId": "resp_1",
                        "cachedPromptTokens": 600,
                        "reasoningTokens": 300,
                    }
                }
            ),
        },
        provider="openai",
        input_tokens=1000,
        output_tokens=500,
        cache_read_tokens=600,
        reasoning_tokens=300,
    ),
    # Vercel v6+: inputTokens.total = noCache + cacheRead + cacheWrite, details beside.
    case(
        "vercel-v6",
        "ai",
        "ai.generateText.doGenerate",
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.provider": "anthropic.messages",
            "ai.model.id": "claude-sonnet-4-5",
            "ai.usage.inputTokens": 1000,
            "ai.usage.inputTokenDetails.noCacheTokens": 200,
            "ai.usage.inputTokenDetails.cacheReadTokens": 700,
            "ai.usage.inputTokenDetails.cacheWriteTokens": 100,
            "ai.usage.outputTokens": 300,
            "ai.usage.outputTokenDetails.reasoningTokens": 100,
        },
        provider="anthropic",
        input_tokens=1000,
        output_tokens=300,
        cache_read_tokens=700,
        cache_write_tokens=100,
        reasoning_tokens=100,
    ),
    case(
        "vercel-v7",
        "gen_ai",
        "chat claude-sonnet-4-5",
        {
            **CHAT,
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            **GENAI_ANTHROPIC,
        },
        **ANTHROPIC_STORED,
    ),
    # LiteLLM's callback: one `prompt_tokens`, no cache attribute (its composition depends on
    # the LiteLLM version): priced as input, flagged.
    case(
        "litellm-proxy",
        "litellm",
        "litellm_request",
        {
            "gen_ai.operation.name": "chat",
            "llm.request.type": "completion",
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.cost.total_cost": 0.0045,
        },
        provider="anthropic",
        input_tokens=1000,
        output_tokens=100,
        pricing_assumption="cache_not_reported",
    ),
    # A scope no row names: cache below input is read as inclusive, and the guess flagged;
    # an unknown tier value is priced standard and flagged.
    case(
        "unknown-scope-guessed",
        "my.company.llm",
        "chat",
        {
            **CHAT,
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.usage.cache_read.input_tokens": 200,
            "openai.response.service_tier": "turbo-deluxe",
        },
        provider="openai",
        input_tokens=1000,
        output_tokens=100,
        cache_read_tokens=200,
        pricing_assumption="input_inclusion_guessed,service_tier_unknown",
    ),
]


@pytest.mark.parametrize(("scope", "name", "attributes", "expected"), CASES)
def test_each_emitter_is_read_by_its_rule(
    scope: str, name: str, attributes: dict[str, Any], expected: dict[str, Any]
) -> None:
    result = NORMALIZER.normalize(name, attributes, {}, scope)
    assert result.is_model_call
    assert {field: getattr(result, field) for field in FIELDS} == expected


def test_every_row_has_its_case() -> None:
    ids = {param.id for param in CASES}
    for row in (*EMITTERS, UNKNOWN):
        assert row.test in ids, row
        scope = next(param.values[0] for param in CASES if param.id == row.test)
        assert row.scope == "" or scope == row.scope or scope.startswith(row.scope + ".")


def test_rows_are_found_by_scope_provider_and_version() -> None:
    assert find_emitter("openlit.instrumentation.anthropic", "anthropic", "").input == "exclusive"
    # A prefix only matches at a dot: contrib's openai_v2 is not OpenLLMetry's openai.
    assert find_emitter(f"{TL}.openai_v2", "openai", "").test == "otel-openai-v2"
    assert find_emitter(f"{TL}.openai.v1", "openai", "").test == "openllmetry-openai"
    assert find_emitter("ai", "anthropic", "v6+").test == "vercel-v6"
    assert find_emitter("ai", "openai", "v5").test == "vercel-v5-openai"
    assert find_emitter(None, "openai", "") is UNKNOWN
    assert find_emitter("aim.tracer", "openai", "") is UNKNOWN


def test_bad_raw_usage_is_ignored_not_fatal() -> None:
    attributes = {
        **CHAT,
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 10,
        "gen_ai.usage.raw": "{not json",
    }
    result = NORMALIZER.normalize("chat", attributes, {}, "logfire.anthropic")
    assert (result.input_tokens, result.cache_write_tokens) == (100, None)
    attributes["gen_ai.usage.raw"] = js({"cache_creation": {"ephemeral_1h_input_tokens": -5}})
    result = NORMALIZER.normalize("chat", attributes, {}, "logfire.anthropic")
    assert result.cache_write_1h_tokens is None


@pytest.mark.parametrize(
    ("response", "asked", "rule", "streamed", "expected"),
    [
        ("priority", "auto", "response", False, ("priority", [])),
        ("default", "priority", "response", True, ("default", [])),  # served below the ask
        (None, "priority", "response", False, ("priority", ["service_tier_from_request"])),
        (None, "auto", "response", False, ("default", [])),  # as a span without a tier
        (None, "turbo", "response", False, (None, ["service_tier_unknown"])),
        ("turbo", None, "response", False, (None, ["service_tier_unknown"])),
        (None, None, "response", False, (None, [])),
        # OpenLIT's placeholder on a streamed Responses call: the request's wins if it differs.
        ("default", "flex", "request-when-streamed", True, ("flex", ["service_tier_from_request"])),
        ("default", "auto", "request-when-streamed", True, ("default", [])),
        ("default", None, "request-when-streamed", True, ("default", [])),
        ("default", "flex", "request-when-streamed", False, ("default", [])),
    ],
)
def test_the_served_tier_is_the_responses_then_the_requests(
    response: str | None,
    asked: str | None,
    rule: TierRule,
    streamed: bool,
    expected: tuple[str | None, list[str]],
) -> None:
    assert served_tier(response, asked, rule, streamed) == expected


def test_bad_or_oversized_openinference_json_is_ignored_not_fatal() -> None:
    attributes = {
        **OI_LLM,
        "llm.system": "openai",
        "llm.model_name": "gpt-5",
        "llm.token_count.prompt": 100,
        "llm.token_count.completion": 10,
        "llm.invocation_parameters": "{not json",
        "output.value": "Your order shipped yesterday.",  # output.mime_type text/plain
    }
    result = NORMALIZER.normalize("ChatCompletion", attributes, {}, f"{OI}.openai")
    assert (result.input_tokens, result.service_tier, result.pricing_assumption) == (
        100,
        None,
        None,
    )
    # A response body past the bound is not parsed: the request's tier stands in, flagged.
    body = {"service_tier": "priority", "choices": [{"text": "x" * MAX_RAW_JSON}]}
    attributes["output.value"] = js(body)
    attributes["llm.invocation_parameters"] = js({"service_tier": "flex"})
    result = NORMALIZER.normalize("ChatCompletion", attributes, {}, f"{OI}.openai")
    assert (result.service_tier, result.pricing_assumption) == (
        "flex",
        "service_tier_from_request",
    )
    attributes["output.value"] = js({**body, "choices": []})
    result = NORMALIZER.normalize("ChatCompletion", attributes, {}, f"{OI}.openai")
    assert (result.service_tier, result.pricing_assumption) == ("priority", None)


def test_the_scope_reaches_the_normalizer_through_the_columns() -> None:
    columns = SpanColumns(NORMALIZER)
    attributes = {
        **CHAT,
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.usage.input_tokens": 3000,
        "gen_ai.usage.output_tokens": 200,
        "gen_ai.usage.cache_read.input_tokens": 1000,
        "gen_ai.usage.cache_creation.input_tokens": 500,
    }
    args = (b"\x01" * 16, b"\x02" * 8, b"", "chat", 3, 10**18, 10**18 + 1, 0, "")
    columns.add(*args, attributes, [], [], f"{OL}.anthropic", {}, None)
    table = columns.to_arrow()
    assert table.column("input_tokens").to_pylist() == [4500]
    assert table.column("pricing_assumption").to_pylist() == [None]


# --- the docs table ------------------------------------------------------------------------

DOC = REPO / "docs" / "normalization.md"


def _doc_row(row: Emitter) -> tuple[str, ...]:
    return (
        row.instrumentation,
        row.scope or "(any other)",
        ", ".join(row.providers) or "any",
        row.version or "any",
        row.input,
        row.reasoning,
        row.raw,
        row.tier,
        row.provider or "",
        row.flag or "",
        row.test,
    )


def test_docs_emitter_table_matches_the_code() -> None:
    text = DOC.read_text()
    table = text.split("<!-- emitters:start -->")[1].split("<!-- emitters:end -->")[0]
    documented = []
    for line in table.strip().splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        documented.append(tuple(re.sub(r"`", "", cell) for cell in cells))
    assert documented == [_doc_row(row) for row in (*EMITTERS, UNKNOWN)]
