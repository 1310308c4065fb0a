"""Latency beside cost, end to end: spans with known durations and times to first token go
in through the OTLP decoder (the attribute names of the instrumentations), the jobs run,
and `/api/v1/latency` and `/api/v1/unit-economics` give their exact p50 / p95."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from sample_data.harness import otlp
from tests.collector.api.test_costs_api import ADMIN, DAY0, WINDOW, Pipeline, _nanos
from warehouse.store.database import Database

MS = 10**6


@pytest.fixture
def pipeline(database: Database, tmp_path: Path) -> Iterator[Pipeline]:
    yield Pipeline(database, tmp_path)


def call(
    trace: int,
    number: int,
    model: str,
    duration_ms: int,
    ttft: tuple[str, float] | None = None,
    *,
    error: bool = False,
) -> Span:
    """A model-call span of `duration_ms`, under the trace's root (span 1)."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 100,
    }
    if ttft is not None:
        attributes[ttft[0]] = ttft[1]
    start = _nanos(DAY0) + trace * 600 * 10**9 + number * 3 * 10**9  # one after the other
    return Span(
        trace_id=otlp.trace_id(trace),
        span_id=otlp.span_id(number),
        parent_span_id=otlp.span_id(1),
        name=f"chat {model}",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start,
        end_time_unix_nano=start + duration_ms * MS,
        attributes=otlp.key_values(attributes),
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK),
    )


def root(trace: int, feature: str) -> Span:
    start = _nanos(DAY0) + trace * 600 * 10**9
    return Span(
        trace_id=otlp.trace_id(trace),
        span_id=otlp.span_id(1),
        name="request",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 300 * 10**9,
        attributes=otlp.key_values({"spendscope.feature": feature, "spendscope.tenant": "acme"}),
    )


def world(pipeline: Pipeline) -> None:
    """support: gpt-4o calls of 100, 200, ..., 2000 ms; the first ten streamed, with times to
    first token of 10, 20, ..., 100 ms under the four instrumentations' keys (seconds or ms);
    one more streamed call whose time to first token is longer than its span (not stored);
    an error call of 60 s (not measured). search: one gpt-4o-mini call of 500 ms."""
    keys = (
        ("gen_ai.response.time_to_first_chunk", 0.001),  # OTel GenAI, seconds
        ("gen_ai.server.time_to_first_token", 0.001),  # OpenLIT, seconds
        ("gen_ai.latency.time_to_first_token", 0.001),  # vLLM, seconds
        ("ai.response.msToFirstChunk", 1.0),  # Vercel AI SDK, milliseconds
    )
    spans = [root(1, "support")]
    for k in range(1, 21):
        key, scale = keys[k % 4]
        ttft = (key, 10 * k * scale) if k <= 10 else None
        spans.append(call(1, k + 1, "gpt-4o", 100 * k, ttft))
    spans.append(call(1, 30, "gpt-4o", 60_000, error=True))
    pipeline.send(spans)
    pipeline.send([root(2, "search"), call(2, 2, "gpt-4o-mini", 500)])
    # 3 s to the first token of a 1.1 s call: dropped at ingest; the span is stored.
    late = ("gen_ai.response.time_to_first_chunk", 3.0)
    pipeline.send([root(3, "support"), call(3, 2, "gpt-4o", 1100, late)])
    pipeline.run()


def test_latency_by_model_has_exact_percentiles(pipeline: Pipeline) -> None:
    world(pipeline)
    body = pipeline.get("/latency", ADMIN, **WINDOW)
    assert body["group_by"] == ["provider", "model"]
    rows = {r["dimensions"]["model"]: r for r in body["rows"]}
    assert list(rows) == ["gpt-4o", "gpt-4o-mini"]  # costliest first
    gpt4o = rows["gpt-4o"]
    # 20 + 1 successful calls: 100..2000 ms and 1100 ms; the 60 s error is counted only.
    assert (gpt4o["calls"], gpt4o["error_calls"], gpt4o["latency_calls"]) == (22, 1, 21)
    assert gpt4o["latency_p50_ms"] == pytest.approx(1100.0)
    assert gpt4o["latency_p95_ms"] == pytest.approx(1900.0)
    assert gpt4o["ttft_calls"] == 10
    assert gpt4o["ttft_p50_ms"] == pytest.approx(55.0)
    assert gpt4o["ttft_p95_ms"] == pytest.approx(95.5)
    mini = rows["gpt-4o-mini"]
    assert (mini["latency_calls"], mini["latency_p50_ms"], mini["latency_p95_ms"]) == (
        1,
        500.0,
        500.0,
    )
    assert (mini["ttft_calls"], mini["ttft_p50_ms"], mini["ttft_p95_ms"]) == (0, None, None)
    assert mini["cost_usd"] is not None and mini["cost_per_1k_requests_usd"] is not None


def test_latency_by_feature_and_model_and_in_unit_economics(pipeline: Pipeline) -> None:
    world(pipeline)
    body = pipeline.get("/latency", ADMIN, group_by=["feature", "model"], **WINDOW)
    keys = [(r["dimensions"]["feature"], r["dimensions"]["model"]) for r in body["rows"]]
    assert keys == [("support", "gpt-4o"), ("search", "gpt-4o-mini")]
    features = {f["feature"]: f for f in pipeline.get("/unit-economics", **WINDOW)["features"]}
    support = features["support"]
    assert (support["latency_calls"], support["ttft_calls"]) == (21, 10)
    assert support["latency_p95_ms"] == pytest.approx(1900.0)
    assert support["ttft_p50_ms"] == pytest.approx(55.0)
    assert features["search"]["latency_p50_ms"] == 500.0
    only = pipeline.get("/latency", ADMIN, feature="search", **WINDOW)["rows"]
    assert [r["dimensions"]["model"] for r in only] == ["gpt-4o-mini"]


def test_the_stored_time_to_first_token_is_in_milliseconds_and_bounded(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="collector.ingest.latency"):
        world(pipeline)
    stored = pipeline.cursor.execute(
        "SELECT duration_ms, time_to_first_token_ms FROM spans "
        "WHERE is_model_call ORDER BY trace_id, duration_ms"
    ).fetchall()
    first_tokens = [t for _, t in stored if t is not None]
    assert first_tokens == pytest.approx([10.0 * k for k in range(1, 11)])
    assert (1100.0, None) in stored  # the 3 s value of trace 3 was dropped, the call kept
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "time to first token 3000 ms, span 1100 ms" in warnings[0]


def test_unknown_grouping_and_empty_window(pipeline: Pipeline) -> None:
    world(pipeline)
    refused = pipeline.client.get("/api/v1/latency", params={"group_by": "user"}, headers=ADMIN)
    assert refused.status_code == 422
    later = {"start": (DAY0 + dt.timedelta(days=10)).isoformat()}
    assert pipeline.get("/latency", ADMIN, **later)["rows"] == []
    backwards = {"start": WINDOW["end"], "end": WINDOW["start"]}
    answer = pipeline.client.get("/api/v1/latency", params=backwards, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    twice = {"group_by": ["model", "model"]}
    answer = pipeline.client.get("/api/v1/latency", params=twice, headers=ADMIN)
    assert answer.status_code == 400 and "twice" in answer.text, answer.text
