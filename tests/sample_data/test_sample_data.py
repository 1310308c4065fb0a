"""The sample traffic: deterministic for a seed, shaped like a real product's, and every
feature's convention normalized by the real server."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from sample_data.demo import configure_prices
from sample_data.export import InlineBatchProcessor, inline_provider
from sample_data.gpu import ServedCall, VllmDeployment
from sample_data.harness.server import ServerProcess
from sample_data.product import (
    CLASSIFICATION,
    PRODUCTION,
    SEARCH,
    STAGING,
    SUPPORT,
    VLLM_ADDRESS,
    VLLM_DEPLOYMENT,
    VLLM_MODEL,
)
from sample_data.schedule import RUNAWAY_SESSION, SPIKE_DAYS_AGO, Shape, history
from sample_data.sender import SampleSender
from sample_data.traffic import SampleTraffic

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


def test_the_vllm_deployments_metrics_follow_the_calls_it_served() -> None:
    second = 1_000_000_000
    deployment = VllmDeployment(started_ns=0)
    deployment.serve(
        [
            ServedCall(10 * second, 40 * second, 100, 10),
            ServedCall(20 * second, 50 * second, 5, 1),  # overlaps the first
            ServedCall(70 * second, 130 * second, 7, 2),  # across the scrape at 2:00
        ]
    )
    scrapes = deployment.scrape(150 * second)
    assert [s.at_ns // second for s in scrapes] == [60, 120]
    # Busy 10-50 s of the first minute, 70-120 s of the second; tokens once a call ended.
    assert [s.busy_share for s in scrapes] == [40 / 60, 50 / 60]
    assert [(s.prompt_total, s.generation_total, s.running) for s in scrapes] == [
        (105, 11, 0),
        (105, 11, 1),
    ]
    [last] = deployment.scrape(180 * second)
    assert (last.busy_share, last.prompt_total, last.generation_total) == (10 / 60, 112, 13)
    metrics = deployment.metrics([*scrapes, last])
    dcgm, vllm = metrics.resource_metrics
    assert dcgm.resource.attributes["spendscope.deployment"] == VLLM_DEPLOYMENT
    assert vllm.resource.attributes["server.address"] == VLLM_ADDRESS
    prompt = next(m for m in vllm.scope_metrics[0].metrics if m.name == "vllm:prompt_tokens_total")
    assert [p.value for p in prompt.data.data_points] == [105, 105, 112]
    assert {p.start_time_unix_nano for p in prompt.data.data_points} == {0}
    assert [p.time_unix_nano // second for p in prompt.data.data_points] == [60, 120, 180]


def test_backfill_sends_gpu_metrics_that_price_the_vllm_calls(server: ServerProcess) -> None:
    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    start = end - dt.timedelta(days=1)
    with httpx.Client(base_url=server.http_url, headers=server.auth_headers()) as http:
        configure_prices(http, start)
    sender = SampleSender(server.http_url, seed=4)
    sender.backfill(1, end=end, shape=Shape(4))
    sender.close()
    server.wait_attributed(timeout=60)
    window = {"start": start.isoformat(), "end": (end + dt.timedelta(hours=1)).isoformat()}

    def llama_row() -> dict[str, Any]:
        costs = server.get("/api/v1/costs", group_by=["model"], **window).json()["rows"]
        [row] = [r for r in costs if r["dimensions"]["model"] == VLLM_MODEL]
        return row

    # The jobs form a chain (GPU efficiency, allocation, pricing, rollups): each can look
    # caught up before the one above it has handed it the last hours, so wait for the
    # allocated cost to reach the rollups (a failure still shows the row after 60 s).
    deadline = time.monotonic() + 60
    llama = llama_row()
    while llama["unpriced_calls"] and time.monotonic() < deadline:
        time.sleep(0.5)
        llama = llama_row()
    efficiency = server.get("/api/v1/gpu/efficiency", **window).json()["totals"]
    # vLLM's counters are exactly the tokens of the calls it served ...
    assert efficiency["prompt_tokens"] == llama["tokens"]["input"] > 0
    assert efficiency["generation_tokens"] == llama["tokens"]["output"]
    # ... a day of one GPU at the deployment's price: scrapes from a minute after `start`
    # to `end`, each GPU-hour's cost rounded to nano-dollars ...
    assert efficiency["gpus"] == 1 and Decimal(efficiency["unpriced_gpu_hours"]) == 0
    assert abs(Decimal(efficiency["cost_usd"]) - Decimal("0.71") * 24) < Decimal("0.000001")
    assert 0 < efficiency["utilization"] < 0.01  # an hourly batch of a few seconds
    # ... charged to those calls, each hour's cost over its batch, no token price needed.
    [deployment] = server.get("/api/v1/gpu/allocation", **window).json()["deployments"]
    assert llama["unpriced_calls"] == 0
    assert Decimal(llama["cost_usd"]) == Decimal(deployment["allocated_usd"])
    assert Decimal(deployment["unallocated_usd"]) == round(Decimal("0.71") / 60, 9)
