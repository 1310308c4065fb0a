"""The sample traffic: deterministic for a seed, shaped like a real product's, and every
feature's convention normalized by the real server."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from sample_data.export import InlineBatchProcessor, inline_provider
from sample_data.product import CLASSIFICATION, PRODUCTION, SEARCH, STAGING, SUPPORT
from sample_data.schedule import RUNAWAY_SESSION, SPIKE_DAYS_AGO, Shape, history
from sample_data.sender import SampleSender
from sample_data.traffic import SampleTraffic
from tests.server import ServerProcess

END = dt.datetime(2026, 11, 22, 18, tzinfo=dt.UTC)


class Kept(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += spans
        return SpanExportResult.SUCCESS


def emitted(seed: int, days: float) -> list[tuple[object, ...]]:
    exporter = Kept()
    processor = InlineBatchProcessor(exporter, batch=100)
    tracers = {
        env: inline_provider(processor, "t", env, seed).get_tracer("t")
        for env in (PRODUCTION, STAGING)
    }
    traffic = SampleTraffic(tracers[PRODUCTION], seed=seed, environments=tracers)
    for session in history(END - dt.timedelta(days=days), END, seed, Shape(10)):
        traffic.emit(session)
    processor.force_flush()
    return [
        (s.context.trace_id, s.context.span_id, s.name, s.start_time, s.end_time, s.attributes)
        for s in exporter.spans
    ]


def test_the_same_seed_sends_the_same_spans_and_another_seed_does_not() -> None:
    first = emitted(5, 1)
    assert first and first == emitted(5, 1)
    assert first != emitted(6, 1)


def test_history_has_seasonality_growth_a_spike_and_a_runaway() -> None:
    sessions = history(END - dt.timedelta(days=28), END, seed=3)
    by_day = Counter(
        dt.datetime.fromtimestamp(s.start_ns / 1e9, dt.UTC).date()
        for s in sessions
        if s.feature != CLASSIFICATION
    )
    weekdays = [n for day, n in by_day.items() if day.weekday() < 5]
    weekends = [n for day, n in by_day.items() if day.weekday() >= 5]
    assert sum(weekends) / len(weekends) < 0.6 * sum(weekdays) / len(weekdays)
    first_week = sum(n for day, n in by_day.items() if day < (END - dt.timedelta(days=21)).date())
    last_week = sum(n for day, n in by_day.items() if day >= (END - dt.timedelta(days=7)).date())
    assert last_week > first_week * 1.1
    spike_day = (END - dt.timedelta(days=SPIKE_DAYS_AGO)).date()
    spiked = [s for s in sessions if s.spike]
    assert spiked and all(s.feature == SEARCH for s in spiked)
    assert {dt.datetime.fromtimestamp(s.start_ns / 1e9, dt.UTC).date() for s in spiked} == {
        spike_day
    }
    runaway = [s for s in sessions if s.runaway]
    assert [(s.session_id, s.feature) for s in runaway] == [(RUNAWAY_SESSION, SUPPORT)]
    assert Counter(s.feature for s in sessions)[CLASSIFICATION] == 28 * 24  # hourly batches
    assert {s.environment for s in sessions} == {PRODUCTION, STAGING}


def test_backfill_lands_every_call_normalized_with_past_times_and_late_outcomes(
    server: ServerProcess,
) -> None:
    sender = SampleSender(server.http_url, seed=2)
    summary = sender.backfill(2, shape=Shape(8))
    sender.close()
    server.wait_attributed(timeout=60)
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).isoformat()
    body = server.get("/api/v1/costs", group_by=["feature", "provider"], start=start).json()
    assert body["totals"]["calls"] == summary.model_calls
    found = {(r["dimensions"]["feature"], r["dimensions"]["provider"]) for r in body["rows"]}
    assert {
        ("support-agent", "openai"),  # OTel GenAI, current names
        ("search", "openai"),  # OpenInference
        ("writing-assistant", "anthropic"),  # Vercel AI SDK
        ("summarizer", "anthropic"),  # OpenLLMetry, older names
        ("classification", "vllm"),  # LiteLLM on the self-hosted vLLM
    } <= found
    days = server.get("/api/v1/costs", grain="day", start=start).json()["rows"]
    assert len(days) >= 2  # history in the past, not all now
    late = server.get("/api/v1/outcomes", limit=10_000, since=start).json()["outcomes"]
    assert sender.posted_outcomes > 0
    assert Counter(o["source"] for o in late)["api"] == sender.posted_outcomes
    tenants = server.get("/api/v1/costs", group_by=["tenant"], start=start).json()["rows"]
    assert len(tenants) >= 5
