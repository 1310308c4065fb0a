"""Pricing beyond text tokens, on a real warehouse: service tiers, 1-hour cache writes, audio
and image tokens and web searches, each from a span shaped as its instrumentation emits it,
checked against genai-prices' own `calc_price` (the list price) or, where the catalog has no
price, against the documented fallback and its `pricing_assumption` flag."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from genai_prices import Usage, calc_price

from collector.api import v1
from collector.api.deps import ApiContext, install
from collector.auth import TokenSet
from collector.ingest.traces.decode import JSON, decode_traces
from tests.warehouse.pricing.test_pricing import NOW, Warehouse, _attribute, _nanos
from warehouse.pricing.pricebook import Override
from warehouse.spans.insert import insert_spans, last_batch_id
from warehouse.store.database import Database

AFTER_VARIANTS = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)  # genai-prices tier prices hold
BEFORE_VARIANTS = dt.datetime(2026, 9, 1, 9, tzinfo=dt.UTC)  # no tier price in the catalog
MTOK = Decimal("0.000001")


class Spans(Warehouse):
    def span(self, scope: str, attributes: dict[str, Any], start: dt.datetime) -> int:
        """Ingest one span of `scope` in its own batch; returns its id."""
        number = next(self.ids)
        span = {
            "traceId": f"{number:032x}",
            "spanId": f"{number:016x}",
            "name": "chat",
            "kind": 3,
            "startTimeUnixNano": str(_nanos(start)),
            "endTimeUnixNano": str(_nanos(start) + 10**9),
            "attributes": [_attribute(k, v) for k, v in attributes.items()],
        }
        body = {"resourceSpans": [{"scopeSpans": [{"scope": {"name": scope}, "spans": [span]}]}]}
        decoded = decode_traces(json.dumps(body).encode(), JSON, self.normalizer)
        assert decoded.rejected == 0, decoded.rejection_message
        self.cursor.begin()
        insert_spans(self.cursor, decoded.table, last_batch_id(self.cursor) + 1, NOW)
        self.cursor.commit()
        return number

    def priced(self, number: int) -> tuple[Decimal, str | None]:
        self.run()
        row = self.costs()[number]
        assert row["priced"], row
        return Decimal(row["cost_usd"]), row["pricing_assumption"]


@pytest.fixture
def wh(database: Database) -> Iterator[Spans]:
    spans = Spans(database)
    yield spans
    spans.cursor.close()


def listed(usage: Usage, model: str, provider: str, start: dt.datetime, **context: str) -> Decimal:
    return calc_price(
        usage,
        model_ref=model,
        provider_id=provider,
        genai_request_timestamp=start,
        price_context=context or None,
    ).total_price


def chat(provider: str, model: str, **tokens: int | str) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        **tokens,
    }


def openai_tier(tier: str) -> dict[str, Any]:
    return chat(
        "openai",
        "gpt-5",
        **{
            "gen_ai.usage.input_tokens": 12_000,
            "gen_ai.usage.output_tokens": 3_000,
            "gen_ai.usage.cache_read.input_tokens": 8_000,
            "gen_ai.usage.reasoning_tokens": 1_000,
            "openai.response.service_tier": tier,
        },
    )


GPT5_USAGE = Usage(input_tokens=12_000, cache_read_tokens=8_000, output_tokens=3_000)


@pytest.mark.parametrize(
    ("tier", "context"),
    [
        ("flex", {"service_tier": "flex"}),
        ("priority", {"service_tier": "priority"}),
        ("default", {}),
        ("auto", {}),
    ],
)
def test_service_tiers_at_the_catalogs_tier_prices(
    wh: Spans, tier: str, context: dict[str, str]
) -> None:
    number = wh.span("openlit.instrumentation.openai", openai_tier(tier), AFTER_VARIANTS)
    cost, assumption = wh.priced(number)
    assert cost == listed(GPT5_USAGE, "gpt-5", "openai", AFTER_VARIANTS, **context)
    assert assumption is None


def test_batch_at_the_catalogs_batch_price(wh: Spans) -> None:
    raw = {
        "input_tokens": 1_000,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "output_tokens": 500,
        "service_tier": "batch",
    }
    attributes = chat(
        "anthropic",
        "claude-sonnet-4-5",
        **{
            "gen_ai.usage.input_tokens": 1_000,
            "gen_ai.usage.output_tokens": 500,
            "gen_ai.usage.raw": json.dumps(raw),
        },
    )
    number = wh.span("logfire.anthropic", attributes, AFTER_VARIANTS)
    usage = Usage(input_tokens=1_000, output_tokens=500)
    cost, assumption = wh.priced(number)
    batch = listed(usage, "claude-sonnet-4-5", "anthropic", AFTER_VARIANTS, processing="batch")
    assert cost == batch
    assert batch == listed(usage, "claude-sonnet-4-5", "anthropic", AFTER_VARIANTS) / 2
    assert assumption is None


def test_tiers_without_a_catalog_price_follow_the_published_rule_flagged(wh: Spans) -> None:
    standard = listed(GPT5_USAGE, "gpt-5", "openai", BEFORE_VARIANTS)
    flex = wh.span("openlit.instrumentation.openai", openai_tier("flex"), BEFORE_VARIANTS)
    priority = wh.span("openlit.instrumentation.openai", openai_tier("priority"), BEFORE_VARIANTS)
    scale = wh.span("openlit.instrumentation.openai", openai_tier("scale"), BEFORE_VARIANTS)
    odd = wh.span("openlit.instrumentation.openai", openai_tier("turbo"), BEFORE_VARIANTS)
    assert wh.priced(flex) == (standard / 2, "tier_price_assumed")
    assert wh.priced(priority) == (standard * 2, "tier_price_assumed")
    assert wh.priced(scale) == (standard, "tier_priced_standard")
    assert wh.priced(odd) == (standard, "service_tier_unknown")


def test_one_hour_cache_writes_and_web_searches_at_their_prices(wh: Spans) -> None:
    raw = {
        "input_tokens": 1_000,
        "cache_read_input_tokens": 3_000,
        "cache_creation_input_tokens": 2_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 1_500},
        "output_tokens": 300,
        "server_tool_use": {"web_search_requests": 2},
        "service_tier": "standard",
    }
    attributes = chat(
        "anthropic",
        "claude-sonnet-4-6",
        **{
            "gen_ai.usage.input_tokens": 6_000,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.raw": json.dumps(raw),
        },
    )
    number = wh.span("logfire.anthropic", attributes, AFTER_VARIANTS)
    usage = Usage(
        input_tokens=6_000,
        cache_read_tokens=3_000,
        cache_write_tokens=2_000,
        cache_write_1h_tokens=1_500,
        output_tokens=300,
        web_searches=2,
    )
    cost, assumption = wh.priced(number)
    assert cost == listed(usage, "claude-sonnet-4-6", "anthropic", AFTER_VARIANTS)
    # The 1-hour writes at the 5-minute rate would have been a third cheaper.
    five_minutes = Usage(
        input_tokens=6_000, cache_read_tokens=3_000, cache_write_tokens=2_000, output_tokens=300
    )
    assert cost > listed(five_minutes, "claude-sonnet-4-6", "anthropic", AFTER_VARIANTS)
    assert assumption is None


def test_vercel_v5_anthropic_cache_writes_are_priced(wh: Spans) -> None:
    metadata = {
        "anthropic": {
            "usage": {
                "input_tokens": 1_000,
                "cache_creation_input_tokens": 2_000,
                "cache_read_input_tokens": 500,
                "output_tokens": 200,
            },
            "cacheCreationInputTokens": 2_000,
        }
    }
    attributes = {
        "ai.model.provider": "anthropic.messages",
        "ai.model.id": "claude-sonnet-4-6",
        "gen_ai.usage.input_tokens": 1_000,
        "gen_ai.usage.output_tokens": 200,
        "ai.response.providerMetadata": json.dumps(metadata),
    }
    number = wh.span("ai", attributes, AFTER_VARIANTS)
    usage = Usage(
        input_tokens=3_500, cache_read_tokens=500, cache_write_tokens=2_000, output_tokens=200
    )
    # This usage object has no `cache_creation` split: the writes' TTL is not said.
    assert wh.priced(number) == (
        listed(usage, "claude-sonnet-4-6", "anthropic", AFTER_VARIANTS),
        "cache_ttl_unknown",
    )


def test_cache_writes_of_unsaid_ttl_are_priced_at_five_minutes_flagged(wh: Spans) -> None:
    """OpenLLMetry and OpenLIT send Anthropic cache writes without their TTL: 1-hour writes
    cost more, so the call is priced at the 5-minute rate (the default TTL) and flagged."""
    tokens = {
        "gen_ai.usage.input_tokens": 37_200,
        "gen_ai.usage.output_tokens": 800,
        "gen_ai.usage.cache_read.input_tokens": 30_000,
        "gen_ai.usage.cache_creation.input_tokens": 6_000,
    }
    unsaid = wh.span(
        "opentelemetry.instrumentation.anthropic",
        chat("anthropic", "claude-sonnet-4-5", **tokens),
        AFTER_VARIANTS,
    )
    usage = Usage(
        input_tokens=37_200, cache_read_tokens=30_000, cache_write_tokens=6_000, output_tokens=800
    )
    five_minutes = listed(usage, "claude-sonnet-4-5", "anthropic", AFTER_VARIANTS)
    assert wh.priced(unsaid) == (five_minutes, "cache_ttl_unknown")
    # No writes, or a provider whose price has one write rate: nothing to tell apart.
    no_writes = {**tokens, "gen_ai.usage.cache_creation.input_tokens": 0}
    read_only = wh.span(
        "opentelemetry.instrumentation.anthropic",
        chat("anthropic", "claude-sonnet-4-5", **no_writes),
        AFTER_VARIANTS,
    )
    assert wh.priced(read_only)[1] is None


def test_the_spans_api_shows_what_a_price_assumes(
    wh: Spans, database: Database, tmp_path: Path
) -> None:
    app = FastAPI()
    install(app, ApiContext(database, TokenSet([]), tmp_path))
    app.include_router(v1.router)
    tokens = {"gen_ai.usage.input_tokens": 1_800, "gen_ai.usage.output_tokens": 700}
    number = wh.span(
        "opentelemetry.instrumentation.openai.v1",
        chat("openai", "gpt-audio", **tokens, **{"openai.request.service_tier": "flex"}),
        AFTER_VARIANTS,
    )
    wh.run()
    answer = TestClient(app).get("/api/v1/spans", params={"trace_id": f"{number:032x}"})
    assert answer.status_code == 200, answer.text
    [record] = answer.json()["spans"]
    # The span's code, then the price's: gpt-audio has no flex price in the catalog.
    assumed = "service_tier_from_request,tier_price_assumed,audio_not_reported"
    assert record["pricing_assumption"] == assumed


def test_audio_unreported_on_a_speech_model_is_flagged(wh: Spans) -> None:
    """A span without audio counts on a model the catalog prices audio output for (gpt-audio):
    priced as text, as the span says, and flagged; reported zeros are not flagged."""
    tokens = {"gen_ai.usage.input_tokens": 1_800, "gen_ai.usage.output_tokens": 700}
    unsaid = wh.span(
        "opentelemetry.instrumentation.openai.v1",
        chat("openai", "gpt-audio-2025-08-28", **tokens),
        AFTER_VARIANTS,
    )
    as_text = listed(
        Usage(input_tokens=1_800, output_tokens=700), "gpt-audio", "openai", AFTER_VARIANTS
    )
    assert wh.priced(unsaid) == (as_text, "audio_not_reported")
    zeros = {
        "openinference.span.kind": "LLM",
        "llm.provider": "openai",
        "llm.model_name": "gpt-audio-2025-08-28",
        "llm.token_count.prompt": 1_800,
        "llm.token_count.completion": 700,
        "llm.token_count.prompt_details.audio": 0,
        "llm.token_count.completion_details.audio": 0,
    }
    reported = wh.span("openinference.instrumentation.openai", zeros, AFTER_VARIANTS)
    assert wh.priced(reported) == (as_text, None)
    # A text model (no audio price) is not flagged for saying nothing of audio.
    text_only = wh.span(
        "opentelemetry.instrumentation.openai.v1", chat("openai", "gpt-5", **tokens), AFTER_VARIANTS
    )
    assert wh.priced(text_only)[1] is None


def test_audio_tokens_at_the_audio_prices(wh: Spans) -> None:
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.provider": "openai",
        "llm.model_name": "gpt-4o-mini-realtime-preview",
        "llm.token_count.prompt": 1_000,
        "llm.token_count.completion": 100,
        "llm.token_count.prompt_details.cache_read": 200,
        "llm.token_count.prompt_details.audio": 600,
        "llm.token_count.completion_details.audio": 80,
    }
    number = wh.span("openinference.instrumentation.openai", attributes, AFTER_VARIANTS)
    usage = Usage(
        input_tokens=1_000,
        cache_read_tokens=200,
        input_audio_tokens=600,
        cache_audio_read_tokens=0,  # audio is taken as uncached (docs/pricing.md)
        output_tokens=100,
        output_audio_tokens=80,
    )
    cost, assumption = wh.priced(number)
    assert cost == listed(usage, "gpt-4o-mini-realtime-preview", "openai", AFTER_VARIANTS)
    as_text = Usage(input_tokens=1_000, cache_read_tokens=200, output_tokens=100)
    assert cost > 5 * listed(as_text, "gpt-4o-mini-realtime-preview", "openai", AFTER_VARIANTS)
    assert assumption is None


def test_image_output_tokens_at_the_image_price(wh: Spans) -> None:
    attributes = chat(
        "gcp.gemini",
        "gemini-2.5-flash-image",
        **{
            "gen_ai.usage.input_tokens": 300,
            "gen_ai.usage.output_tokens": 1_300,
            "gen_ai.usage.details.image_candidates_tokens": 1_290,
        },
    )
    number = wh.span("pydantic-ai", attributes, AFTER_VARIANTS)
    usage = Usage(input_tokens=300, output_tokens=1_300, output_image_tokens=1_290)
    assert wh.priced(number) == (
        listed(usage, "gemini-2.5-flash-image", "google", AFTER_VARIANTS),
        None,
    )


def test_overrides_price_tiers_and_one_hour_writes_by_the_rule_flagged(wh: Spans) -> None:
    wh.add_override(Override("anthropic", "claude-sonnet-4-6", "exact", Decimal(2), Decimal(10)))
    raw = {
        "input_tokens": 0,
        "cache_creation_input_tokens": 1_000,
        "cache_creation": {"ephemeral_1h_input_tokens": 1_000},
        "output_tokens": 100,
        "service_tier": "batch",
    }
    attributes = chat(
        "anthropic",
        "claude-sonnet-4-6",
        **{
            "gen_ai.usage.input_tokens": 1_000,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.usage.raw": json.dumps(raw),
        },
    )
    number = wh.span("logfire.anthropic", attributes, AFTER_VARIANTS)
    # 1-hour writes at 2x the override's input price, then batch at half of everything.
    expected = (1_000 * Decimal(4) + 100 * Decimal(10)) * MTOK / 2
    assert wh.priced(number) == (expected, "tier_price_assumed,cache_write_1h_price_assumed")
    row = wh.costs()[number]
    assert row["price_source"] == "override"
