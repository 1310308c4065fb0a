"""The cost API on a real warehouse: spans go in through the ingest path (OTLP protobuf
decode, then `insert_spans` in numbered batches, as the writer does), the jobs run as the
scheduler runs them (attribution, outcomes, pricing, rollups), and the app built by
`create_app` answers in-process.

Properties: sums over any grouping equal the totals, and the totals equal the call-level
costs; re-sent spans and re-run jobs change nothing; late spans land in their hour; late
outcomes count in the window they occurred in. Tenant tokens see only their tenant, on
every /api/v1 endpoint.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from collector.api.routers.costs import (
    CacheSavingsResponse,
    CostsResponse,
    SessionDetail,
    SessionsResponse,
    UnitEconomicsResponse,
)
from collector.api.routers.costs_models import LatencyResponse
from collector.api.routers.outcomes import OutcomeIn, outcome_rows
from collector.auth import TokenSet
from collector.ingest.normalize import Normalizer
from collector.ingest.traces.decode import PROTOBUF, decode_traces
from collector.service import create_app
from collector.settings import Settings
from sample_data.harness import otlp
from tests.support.alerts_scope import alert_checks
from warehouse.detection.budgets import Budget, store_budgets
from warehouse.detection.signals import Signal, record_signals
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.ledger.seed import seed as seed_ledger
from warehouse.outcomes.records import insert_outcomes, sequence_outcomes
from warehouse.rollups import job as rollups
from warehouse.spans.insert import insert_spans, last_batch_id
from warehouse.store.database import Database
from warehouse.store.scope import TenantScope

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)  # the jobs' clock
DAY0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
WINDOW = {"start": DAY0.isoformat(), "end": (DAY0 + dt.timedelta(days=4)).isoformat()}
VALUE_UNITS = {"support": "ticket_resolved", "search": "search_succeeded"}
ADMIN = {"authorization": "Bearer admin-token"}
TENANTS = {"acme": "acme-token", "globex": "globex-token"}
HOURLY = ("feature", "provider", "model", "tenant", "environment", "agent")
MEASURES = ("calls", "unpriced_calls", "error_calls")
TOKENS = ("input", "output", "cache_read", "cache_write", "reasoning")
ROLLUP_TABLES = (
    "rollup_hourly",
    "rollup_daily",
    "rollup_feature_daily",
    "rollup_sessions",
    "rollup_traces",
    "rollup_users",
)
# The tables the pipeline writes; emptied between hypothesis examples.
DATA_TABLES = (
    "spans", "model_calls", "call_costs", "job_state", "outcomes", "outcome_key_links",
    *ROLLUP_TABLES,
)  # fmt: skip


@dataclass(frozen=True)
class Call:
    minute: int  # after the trace's start
    model: str = "gpt-4o-mini"
    input_tokens: int = 1000
    output_tokens: int = 100
    cache_read_tokens: int = 0
    error: bool = False
    agent: str | None = None


@dataclass(frozen=True)
class Trace:
    """A root span that carries the dimensions, and model-call children that inherit them."""

    number: int
    start: dt.datetime
    calls: tuple[Call, ...]
    feature: str | None = "support"
    session: str | None = None
    user: str | None = None
    tenant: str | None = None
    environment: str | None = None
    dims: dict[str, str] = field(default_factory=dict, compare=False)

    def root(self) -> Span:
        attributes = {
            key: value
            for key, value in (
                ("spendscope.feature", self.feature),
                ("session.id", self.session),
                ("user.id", self.user),
                ("spendscope.tenant", self.tenant),
                ("deployment.environment.name", self.environment),
            )
            if value is not None
        }
        return _span(self.number, 1, None, self.start, attributes)

    def call_spans(self) -> list[Span]:
        spans = []
        for n, call in enumerate(self.calls, start=2):
            attributes: dict[str, str | int] = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": call.model,
                "gen_ai.usage.input_tokens": call.input_tokens,
                "gen_ai.usage.output_tokens": call.output_tokens,
            }
            if call.cache_read_tokens:
                attributes["gen_ai.usage.cache_read.input_tokens"] = call.cache_read_tokens
            if call.agent:
                attributes["gen_ai.agent.name"] = call.agent
            start = self.start + dt.timedelta(minutes=call.minute)
            spans.append(_span(self.number, n, 1, start, attributes, error=call.error))
        return spans

    def spans(self) -> list[Span]:
        return [self.root(), *self.call_spans()]


def _nanos(instant: dt.datetime) -> int:
    delta = instant - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def _span(
    trace: int,
    number: int,
    parent: int | None,
    start: dt.datetime,
    attributes: otlp.Attributes,
    *,
    error: bool = False,
) -> Span:
    return Span(
        trace_id=otlp.trace_id(trace),
        span_id=otlp.span_id(number),
        parent_span_id=otlp.span_id(parent) if parent else b"",
        name="chat" if parent else "request",
        kind=Span.SPAN_KIND_CLIENT if parent else Span.SPAN_KIND_SERVER,
        start_time_unix_nano=_nanos(start),
        end_time_unix_nano=_nanos(start) + 2 * 10**9,
        attributes=otlp.key_values(attributes),
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK),
    )


class Pipeline:
    """The ingest path and the jobs against one real warehouse, and the API over it."""

    def __init__(self, database: Database, data_dir: Path) -> None:
        self.database = database
        self.cursor = database.cursor()
        self.normalizer = Normalizer()
        settings_ = Settings(
            data_dir=data_dir,
            grpc_port=0,
            api_tokens=["admin-token"],
            tenant_tokens=list(TENANTS.items()),
            value_units=VALUE_UNITS,
        )
        self.app = create_app(settings_, database)
        self.client = TestClient(self.app)

    def send(self, spans: list[Span]) -> None:
        """One ingest batch, committed, as the writer commits it."""
        decoded = decode_traces(otlp.request(spans).SerializeToString(), PROTOBUF, self.normalizer)
        assert decoded.rejected == 0, decoded.rejection_message
        self.cursor.begin()
        insert_spans(self.cursor, decoded.table, last_batch_id(self.cursor) + 1, NOW)
        self.cursor.commit()

    def run(self, *, incremental: bool = False) -> None:
        """Every job, as the scheduler runs them; `incremental`: the rollups job rebuilds
        only the groups that changed, however many did."""
        for job in JOBS.values():
            if incremental and job.name == rollups.NAME:
                job = replace(job, step=partial(rollups.refresh, rebuild_share=None))
            run_job(self.cursor, job, NOW)

    def rollups(self) -> dict[str, list[tuple[Any, ...]]]:
        return {
            table: self.cursor.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            for table in ROLLUP_TABLES
        }

    def outcome(self, **fields: Any) -> None:
        """An outcome reported through the API's own validation and rows, committed and
        sequenced as the outcome writer does."""
        rows, _ = outcome_rows([OutcomeIn(**fields)], NOW)
        self.cursor.begin()
        insert_outcomes(self.cursor, rows.to_arrow(), NOW)
        sequence_outcomes(self.cursor)
        self.cursor.commit()

    def reset(self) -> None:
        self.cursor.begin()
        for table in DATA_TABLES:
            self.cursor.execute(f"DELETE FROM {table}")
        self.cursor.commit()

    def get(self, path: str, headers: Mapping[str, str] = ADMIN, /, **params: Any) -> Any:
        response = self.client.get(f"/api/v1{path}", params=params, headers=dict(headers))
        assert response.status_code == 200, response.text
        return response.json()

    def costs(self, headers: Mapping[str, str] = ADMIN, /, **params: Any) -> Any:
        body = self.get("/costs", headers, **(WINDOW | params))
        # The rows are JSON built by DuckDB: they must be what the OpenAPI model says.
        assert CostsResponse.model_validate(body).model_dump(mode="json") == body
        return body

    def call_level(self, where: str = "TRUE") -> dict[str, Any]:
        """Totals straight from the call-level tables, to hold the rollups against."""
        row = self.cursor.execute(
            f"""
            SELECT count(*), count(*) FILTER (WHERE NOT c.priced),
                   count(*) FILTER (WHERE s.status_code = 2),
                   coalesce(sum(s.input_tokens), 0), coalesce(sum(s.output_tokens), 0),
                   coalesce(sum(s.cache_read_tokens), 0), coalesce(sum(c.cost_usd), 0)
            FROM call_costs c JOIN model_calls m USING (trace_id, span_id)
            JOIN spans s USING (trace_id, span_id) WHERE {where}
            """
        ).fetchone()
        assert row is not None
        return {
            "calls": row[0],
            "unpriced_calls": row[1],
            "error_calls": row[2],
            "input": row[3],
            "output": row[4],
            "cache_read": row[5],
            "cost_usd": Decimal(row[6]),
        }


@pytest.fixture
def pipeline(database: Database, tmp_path: Path) -> Iterator[Pipeline]:
    yield Pipeline(database, tmp_path)


def summary(usage: Mapping[str, Any]) -> dict[str, Any]:
    """The measures of a row or of the totals, comparable with `Pipeline.call_level`
    (an unknown cost as 0, which the call-level sum counts it as)."""
    calls, unpriced = usage["calls"], usage["unpriced_calls"]
    # Unknown is unknown: the cost is null exactly when there are calls and none is priced.
    assert (usage["cost_usd"] is None) == (calls > 0 and unpriced == calls), usage
    assert usage["priced_calls"] == calls - unpriced
    assert usage["priced_share"] == ((calls - unpriced) / calls if calls else None)
    return {
        **{m: usage[m] for m in MEASURES},
        **{t: usage["tokens"][t] for t in ("input", "output", "cache_read")},
        "cost_usd": Decimal(usage["cost_usd"] or 0),
    }


def add(rows: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {m: 0 for m in (*MEASURES, "input", "output", "cache_read")}
    total["cost_usd"] = Decimal(0)
    for row in rows:
        for key, value in summary(row).items():
            total[key] += value
    return total


# ---- sums over any grouping ------------------------------------------------------------

calls = st.builds(
    Call,
    minute=st.integers(0, 90),
    model=st.sampled_from(["gpt-4o-mini", "gpt-4o", "no-such-model"]),
    input_tokens=st.integers(0, 50_000),
    output_tokens=st.integers(0, 5_000),
    cache_read_tokens=st.integers(0, 50_000),
    error=st.booleans(),
    agent=st.sampled_from([None, "planner", "writer"]),
)
traces = st.lists(
    st.builds(
        Trace,
        number=st.just(0),
        start=st.integers(0, 3 * 24 * 60 - 120).map(lambda m: DAY0 + dt.timedelta(minutes=m)),
        calls=st.lists(calls, min_size=1, max_size=4).map(tuple),
        feature=st.sampled_from(["support", "search", "drafts", None]),
        session=st.sampled_from(["s1", "s2", "s3", None]),
        user=st.sampled_from(["u1", "u2", None]),
        tenant=st.sampled_from(["acme", "globex", None]),
        environment=st.sampled_from(["prod", "staging", None]),
    ),
    min_size=1,
    max_size=10,
)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    generated=traces,
    combination=st.lists(st.sampled_from(HOURLY), min_size=2, max_size=4, unique=True),
    split=st.integers(0, 10),
    cut=st.tuples(st.integers(0, 80), st.integers(1, 80)),
)
def test_sums_over_any_grouping_equal_the_total(
    pipeline: Pipeline,
    generated: list[Trace],
    combination: list[str],
    split: int,
    cut: tuple[int, int],
) -> None:
    pipeline.reset()
    numbered = [Trace(**{**t.__dict__, "number": n}) for n, t in enumerate(generated, start=1)]
    # Some traces first; the rest, and a few root spans again, after a first run.
    for trace in numbered[:split]:
        pipeline.send(trace.spans())
    pipeline.run()
    for trace in numbered[split:]:
        pipeline.send(trace.call_spans())
    pipeline.send([trace.root() for trace in numbered[split // 2 :]])
    pipeline.run(incremental=True)
    incremental = pipeline.rollups()
    # The groups rebuilt incrementally hold what a rebuild from scratch holds.
    pipeline.cursor.execute("UPDATE job_state SET watermark = 0 WHERE name = 'rollups'")
    pipeline.run()
    assert pipeline.rollups() == incremental
    expected = pipeline.call_level()
    assert expected["calls"] == sum(len(t.calls) for t in generated)

    for grain in ("none", "hour", "day", "month"):
        for group_by in [[], *([d] for d in HOURLY), combination]:
            body = pipeline.costs(group_by=group_by, grain=grain)
            assert summary(body["totals"]) == expected, (grain, group_by)
            assert add(body["rows"]) == expected, (grain, group_by)
            keys = [(row["period"], *row["dimensions"].values()) for row in body["rows"]]
            assert len(keys) == len(set(keys)), "a group appears twice"

    # A window that cuts days: whole days and edge hours add up to the same as hours.
    start = DAY0 + dt.timedelta(hours=cut[0])
    end = start + dt.timedelta(hours=cut[1])
    window = {"start": start.isoformat(), "end": end.isoformat()}
    inside = pipeline.call_level(
        f"c.start_time >= '{start:%Y-%m-%d %H:%M}' AND c.start_time < '{end:%Y-%m-%d %H:%M}'"
    )
    for grain in ("none", "hour", "day", "month"):
        body = pipeline.get("/costs", **window, grain=grain, group_by=["feature"])
        assert summary(body["totals"]) == inside == add(body["rows"]), grain

    # Per user (and day): the calls that have a user.
    with_user = pipeline.call_level("m.user_id IS NOT NULL")
    for grain in ("none", "day"):
        body = pipeline.costs(group_by=["user"], grain=grain)
        assert summary(body["totals"]) == with_user
        assert add(body["rows"]) == with_user
    # A filter selects exactly its calls.
    assert summary(pipeline.costs(feature="support")["totals"]) == pipeline.call_level(
        "m.feature = 'support'"
    )
    assert summary(pipeline.costs(tenant="acme", group_by=["model"])["totals"]) == (
        pipeline.call_level("m.tenant_id = 'acme'")
    )


def test_grouping_by_day_gives_one_row_per_day_and_feature(pipeline: Pipeline) -> None:
    pipeline.send(
        [
            *Trace(1, DAY0 + dt.timedelta(hours=1), (Call(0), Call(5)), "support").spans(),
            *Trace(2, DAY0 + dt.timedelta(hours=30), (Call(0),), "support").spans(),
            *Trace(3, DAY0 + dt.timedelta(hours=30), (Call(0, "gpt-4o"),), "search").spans(),
            *Trace(4, DAY0 + dt.timedelta(hours=2), (Call(0, "no-such-model"),), None).spans(),
        ]
    )
    pipeline.run()
    body = pipeline.costs(group_by=["feature"], grain="day")
    assert body["start"] == "2026-11-01T00:00:00Z" and body["end"] == "2026-11-05T00:00:00Z"
    got = [(r["period"][:10], r["dimensions"]["feature"], r["calls"]) for r in body["rows"]]
    assert got == [
        ("2026-11-01", "support", 2),
        ("2026-11-01", None, 1),
        ("2026-11-02", "search", 1),
        ("2026-11-02", "support", 1),
    ]
    unpriced = next(r for r in body["rows"] if r["dimensions"]["feature"] is None)
    assert unpriced["unpriced_calls"] == 1 and unpriced["cost_usd"] is None  # unknown, not $0
    assert unpriced["priced_share"] == 0 and unpriced["cache_savings_usd"] is None
    assert body["totals"]["calls"] == 5 and body["totals"]["unpriced_calls"] == 1
    # gpt-4o-mini: 1000 input x $0.15/M + 100 output x $0.60/M = $0.00021 a call.
    support = [r for r in body["rows"] if r["dimensions"]["feature"] == "support"]
    assert [r["cost_usd"] for r in support] == ["0.00042", "0.00021"]


def test_invalid_groupings_are_refused(pipeline: Pipeline) -> None:
    get = pipeline.client.get
    bad = get("/api/v1/costs", params={"group_by": ["user", "feature"]}, headers=ADMIN)
    assert bad.status_code == 400 and "user" in bad.json()["detail"]
    bad = get("/api/v1/costs", params={"group_by": "user", "grain": "hour"}, headers=ADMIN)
    assert bad.status_code == 400 and "per day" in bad.json()["detail"]
    assert get("/api/v1/costs", params={"group_by": "colour"}, headers=ADMIN).status_code == 422
    assert get("/api/v1/costs", params={"grain": "week"}, headers=ADMIN).status_code == 422
    backwards = {"start": WINDOW["end"], "end": WINDOW["start"]}
    assert get("/api/v1/costs", params=backwards, headers=ADMIN).status_code == 422
    naive = {"start": "2026-11-01T00:00:00"}
    assert get("/api/v1/costs", params=naive, headers=ADMIN).status_code == 422


# ---- exactly once, late data -------------------------------------------------------------


def snapshot(pipeline: Pipeline) -> list[Any]:
    return [
        pipeline.costs(group_by=["feature", "model", "tenant"], grain="hour"),
        pipeline.costs(group_by=["user"], grain="day"),
        pipeline.get("/sessions", **WINDOW),
        pipeline.get("/unit-economics", **WINDOW),
        pipeline.get("/cache-savings", **WINDOW),
    ]


def test_resent_spans_and_rerun_jobs_change_no_total(pipeline: Pipeline) -> None:
    sent = [
        Trace(1, DAY0, (Call(0), Call(3, cache_read_tokens=400)), "support", "s1", "u1", "acme"),
        Trace(2, DAY0 + dt.timedelta(hours=5), (Call(0, "gpt-4o"),), "search", "s2", "u2"),
    ]
    for trace in sent:
        pipeline.send(trace.spans())
    pipeline.run()
    pipeline.outcome(id="o1", name="ticket_resolved", session_id="s1")
    before = snapshot(pipeline)
    assert before[0]["totals"]["calls"] == 3

    for trace in sent:  # an exporter retrying: the same spans again, in new batches
        pipeline.send(trace.spans())
        pipeline.send(trace.call_spans()[:1])
    pipeline.outcome(id="o1", name="ticket_resolved", session_id="s1")
    pipeline.run()
    pipeline.run()
    assert snapshot(pipeline) == before
    # Rebuilding every rollup from scratch gives the same numbers too.
    pipeline.cursor.execute("UPDATE job_state SET watermark = 0 WHERE name = 'rollups'")
    pipeline.run()
    assert snapshot(pipeline) == before


def test_late_spans_land_in_their_hour(pipeline: Pipeline) -> None:
    ten = DAY0 + dt.timedelta(hours=10)
    early = Trace(1, ten, (Call(5),), "support", "s1", "u1", "acme")
    pipeline.send(early.spans())
    pipeline.send(Trace(2, ten + dt.timedelta(hours=3), (Call(0),), "search").spans())
    pipeline.run()

    def hours() -> dict[tuple[str, str | None], int]:
        body = pipeline.costs(group_by=["feature"], grain="hour")
        return {(r["period"][11:13], r["dimensions"]["feature"]): r["calls"] for r in body["rows"]}

    assert hours() == {("10", "support"): 1, ("13", "search"): 1}

    # A call of trace 1 that started at 10:40 arrives hours later, in its own batch.
    late = Trace(1, ten, (Call(5), Call(40)), "support", "s1", "u1", "acme")
    pipeline.send(late.call_spans()[1:])
    # Children of trace 3 at 13:10 arrive before their root: their own dimensions first ...
    orphan = Trace(3, ten + dt.timedelta(hours=3), (Call(10),), "drafts", "s3", "u1", "acme")
    pipeline.send(orphan.call_spans())
    pipeline.run()
    assert hours() == {("10", "support"): 2, ("13", "search"): 1, ("13", None): 1}
    session = pipeline.get("/sessions/s1")["session"]
    assert session["calls"] == 2 and session["last_call_at"] == "2026-11-01T10:40:00Z"
    # ... then the root: the call moves to its feature, in the same hour.
    pipeline.send([orphan.root()])
    pipeline.run()
    assert hours() == {("10", "support"): 2, ("13", "search"): 1, ("13", "drafts"): 1}
    # A call from two days before everything else lands on its day, not today's.
    old = Trace(4, DAY0 - dt.timedelta(days=2), (Call(0),), "support", "s4", "u1", "acme")
    pipeline.send(old.spans())
    pipeline.run()
    wide = {"start": (DAY0 - dt.timedelta(days=3)).isoformat(), "end": WINDOW["end"]}
    body = pipeline.get("/costs", **wide, group_by="feature", grain="day")
    assert [(r["period"][:10], r["calls"]) for r in body["rows"] if r["period"] < "2026-11-01"] == [
        ("2026-10-30", 1)
    ]
    users = pipeline.get("/costs", **wide, group_by="user", grain="day")["rows"]
    assert [(r["period"][:10], r["calls"]) for r in users] == [
        ("2026-10-30", 1),
        ("2026-11-01", 3),
    ]


def economics(pipeline: Pipeline, day: int, headers: Mapping[str, str] = ADMIN) -> dict[str, Any]:
    start = DAY0 + dt.timedelta(days=day)
    body = pipeline.get(
        "/unit-economics",
        headers,
        start=start.isoformat(),
        end=(start + dt.timedelta(days=1)).isoformat(),
    )
    return {row["feature"]: row for row in body["features"]}


def test_late_outcomes_count_in_the_window_they_occurred_in(pipeline: Pipeline) -> None:
    day1 = DAY0 + dt.timedelta(days=1)
    pipeline.send(
        Trace(1, day1 + dt.timedelta(hours=9), (Call(0), Call(1)), "support", "s1").spans()
    )
    pipeline.send(Trace(2, day1 + dt.timedelta(hours=23), (Call(0),), "support", "s2").spans())
    pipeline.send(Trace(3, day1 + dt.timedelta(hours=12), (Call(0),), "support", "s3").spans())
    pipeline.run()
    before = economics(pipeline, 1)["support"]
    assert (before["sessions"], before["value_units"], before["successful_sessions"]) == (3, 0, 0)
    assert before["cost_per_value_unit_usd"] is None and before["success_rate"] == 0

    # Reported hours later (after the jobs ran): s1 resolved on day 1, s2 only on day 2,
    # and s3's attempt failed.
    pipeline.outcome(id="a", name="ticket_resolved", session_id="s1", occurred_at=day1)
    late = day1 + dt.timedelta(hours=25)
    pipeline.outcome(id="b", name="ticket_resolved", session_id="s2", occurred_at=late)
    pipeline.outcome(
        id="c", name="ticket_resolved", session_id="s3", occurred_at=day1, success=False
    )
    pipeline.outcome(id="d", name="search_succeeded", session_id="s1", occurred_at=day1)
    first, second = economics(pipeline, 1)["support"], economics(pipeline, 2)["support"]
    assert (first["value_units"], first["failed_value_units"]) == (1, 1)
    assert second["value_units"] == 1 and second["sessions"] == 0
    # Success belongs to the session, whenever it came: s1 and s2 of day 1's three.
    assert first["successful_sessions"] == 2 and first["success_rate"] == pytest.approx(2 / 3)
    cost = Decimal(first["cost_usd"])
    assert cost == Decimal("0.00084") and first["calls"] == 4
    assert Decimal(first["cost_per_value_unit_usd"]) == cost
    assert Decimal(first["cost_per_successful_session_usd"]) == cost / 2
    assert Decimal(first["cost_per_session_usd"]) == (cost / 3).quantize(Decimal("1e-24"))
    assert Decimal(first["cost_per_1k_requests_usd"]) == cost * 1000 / 4
    # Day 2 has a value unit but no cost: $0 per unit, and no per-session ratios.
    assert second["cost_per_value_unit_usd"] == "0" and second["cost_per_session_usd"] is None
    # `search` has a value unit configured and nothing else: zeros and nulls, not errors.
    search = economics(pipeline, 1)["search"]
    assert (search["calls"], search["cost_usd"], search["value_units"]) == (0, "0", 0)
    assert search["cost_per_value_unit_usd"] is None and search["success_rate"] is None
    assert search["cost_per_1k_requests_usd"] is None


def test_session_detail_lists_its_calls_and_value_units(pipeline: Pipeline) -> None:
    trace = Trace(1, DAY0, (Call(0), Call(2, "no-such-model")), "support", "s1", "u1", "acme")
    pipeline.send(trace.spans())
    pipeline.send(Trace(2, DAY0, (Call(0, "gpt-4o"),), "search", "s2", "u1", "acme").spans())
    pipeline.run()
    pipeline.outcome(id="x", name="ticket_resolved", session_id="s1", count=2)
    top = pipeline.get("/sessions", **WINDOW)["sessions"]
    assert [s["session_id"] for s in top] == ["s2", "s1"]  # gpt-4o costs more
    assert pipeline.get("/sessions", **WINDOW, feature="support")["sessions"][0]["calls"] == 2
    assert pipeline.get("/sessions", **WINDOW, user="u9")["sessions"] == []
    detail = pipeline.get("/sessions/s1")
    assert detail["session"]["unpriced_calls"] == 1 and detail["session"]["traces"] == 1
    assert (detail["value_unit"], detail["value_units"]) == ("ticket_resolved", 2)
    assert [c["priced"] for c in detail["calls"]] == [True, False]
    assert detail["calls"][0]["cost_usd"] == detail["session"]["cost_usd"] == "0.00021"
    assert pipeline.client.get("/api/v1/sessions/nope", headers=ADMIN).status_code == 404


def test_cache_savings_against_the_full_input_price(pipeline: Pipeline) -> None:
    trace = Trace(1, DAY0, (Call(0, input_tokens=10_000, cache_read_tokens=8_000),), "support")
    pipeline.send(trace.spans())
    pipeline.run()
    body = pipeline.get("/cache-savings", **WINDOW)
    (row,) = body["rows"]
    # gpt-4o-mini input $0.15/M, cached input $0.075/M: 8,000 cached tokens save $0.0006.
    assert (row["feature"], row["model"], row["cache_read_tokens"]) == (
        "support",
        "gpt-4o-mini",
        8000,
    )
    assert row["cache_savings_usd"] == body["cache_savings_usd"] == "0.0006"
    assert Decimal(row["cost_without_cache_usd"]) == Decimal(row["cost_usd"]) + Decimal("0.0006")


def test_a_price_change_that_moves_only_the_savings_re_rolls_them(pipeline: Pipeline) -> None:
    # All 8,000 input tokens read from cache: the input rate prices none of them, so raising
    # it leaves the cost as it is and changes only what the cache reads saved.
    call = Call(0, input_tokens=8_000, cache_read_tokens=8_000)
    pipeline.send(Trace(1, DAY0, (call,), "support").spans())
    pipeline.run()
    cost = pipeline.costs()["totals"]["cost_usd"]
    assert pipeline.get("/cache-savings", **WINDOW)["cache_savings_usd"] == "0.0006"
    price = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_mtok": "0.30",
        "cache_read_mtok": "0.075",
        "output_mtok": "0.60",
    }
    created = pipeline.client.post("/api/v1/prices", json=price, headers=ADMIN)
    assert created.status_code == 201, created.text
    pipeline.run(incremental=True)
    assert pipeline.costs()["totals"]["cost_usd"] == cost
    # 8,000 tokens x ($0.30 - $0.075) / 1M.
    assert pipeline.get("/cache-savings", **WINDOW)["cache_savings_usd"] == "0.0018"


def test_job_progress_is_in_prometheus_metrics(pipeline: Pipeline) -> None:
    pipeline.send(Trace(1, DAY0, (Call(0),)).spans())
    pipeline.run()
    scraped = {
        (family.name, sample.labels.get("job")): sample.value
        for family in text_string_to_metric_families(pipeline.client.get("/metrics").text)
        for sample in family.samples
    }
    jobs = pipeline.get("/jobs")["jobs"]
    ingest_jobs = {"attribution", "outcomes", "pricing", "rollups"}
    assert {job["name"] for job in jobs} == set(JOBS) >= ingest_jobs
    for job in (job for job in jobs if job["name"] in ingest_jobs):  # the others had no input
        name = job["name"]
        assert scraped["spendscope_job_watermark", name] == job["watermark"]
        assert scraped["spendscope_job_input_high", name] == job["input_high"]
        assert scraped["spendscope_job_rows", name] == job["total_rows"]
        assert scraped["spendscope_job_lag", name] == 0
        assert scraped["spendscope_job_failing", name] == 0
        if name != "gpu_efficiency":  # no metric batch here: it has no run to record
            assert scraped["spendscope_job_last_run_timestamp_seconds", name] == NOW.timestamp()
    assert scraped["spendscope_job_rows", "rollups"] == 1  # the one call
    # Behind: the lag shows before the jobs run.
    pipeline.send(Trace(2, DAY0, (Call(0),)).spans())
    text = pipeline.client.get("/metrics").text
    assert 'spendscope_job_lag{job="attribution"} 1.0' in text


def test_openapi_documents_each_cost_endpoint_with_a_valid_example(pipeline: Pipeline) -> None:
    paths = pipeline.app.openapi()["paths"]
    models: dict[str, type[BaseModel]] = {
        "/api/v1/costs": CostsResponse,
        "/api/v1/sessions": SessionsResponse,
        "/api/v1/sessions/{session_id}": SessionDetail,
        "/api/v1/unit-economics": UnitEconomicsResponse,
        "/api/v1/cache-savings": CacheSavingsResponse,
        "/api/v1/latency": LatencyResponse,
    }
    for path, model in models.items():
        content = paths[path]["get"]["responses"]["200"]["content"]["application/json"]
        assert content["schema"] == {"$ref": f"#/components/schemas/{model.__name__}"}, path
        model.model_validate(content["example"])
        assert paths[path]["get"]["description"], path


# ---- tenant-scoped tokens ----------------------------------------------------------------


def tenant(name: str) -> dict[str, str]:
    return {"authorization": f"Bearer {TENANTS[name]}"}


def _tenant_world(pipeline: Pipeline) -> None:
    pipeline.send(Trace(1, DAY0, (Call(0), Call(1)), "support", "s-acme", "u1", "acme").spans())
    pipeline.send(Trace(2, DAY0, (Call(0, "gpt-4o"),), "support", "s-glx", "u2", "globex").spans())
    pipeline.send(Trace(3, DAY0, (Call(0, "no-such-model"),), "search", "s-none").spans())
    pipeline.send(Trace(4, DAY0, (Call(0, "o1-mini"),), "search", "s-glx2", "u2", "globex").spans())
    pipeline.run()
    for n, session in enumerate(("s-acme", "s-glx", "s-none")):
        pipeline.outcome(id=f"t{n}", name="ticket_resolved", session_id=session, occurred_at=DAY0)


# Each GET endpoint under /api/v1, with what an acme token must (not) see there.
def _acme_checks(pipeline: Pipeline) -> dict[str, Any]:
    def costs() -> None:
        body = pipeline.costs(tenant("acme"), group_by=["tenant", "model"])
        assert [r["dimensions"]["tenant"] for r in body["rows"]] == ["acme"]
        assert body["totals"]["calls"] == 2
        assert pipeline.costs(tenant("acme"), tenant="globex")["totals"]["calls"] == 0
        users = pipeline.costs(tenant("acme"), group_by=["user"])["rows"]
        assert [r["dimensions"]["user"] for r in users] == ["u1"]

    def sessions() -> None:
        body = pipeline.get("/sessions", tenant("acme"), **WINDOW)
        assert [s["session_id"] for s in body["sessions"]] == ["s-acme"]

    def session() -> None:
        assert pipeline.get("/sessions/s-acme", tenant("acme"))["session"]["calls"] == 2
        other = pipeline.client.get("/api/v1/sessions/s-glx", headers=tenant("acme"))
        assert other.status_code == 404

    def spans() -> None:
        mine = pipeline.get("/spans", tenant("acme"), trace_id=otlp.trace_id(1).hex())
        assert len(mine["spans"]) == 2
        for trace in (2, 3):
            theirs = pipeline.get("/spans", tenant("acme"), trace_id=otlp.trace_id(trace).hex())
            assert theirs["spans"] == []
        assert pipeline.get("/spans", tenant("acme"), session_id="s-glx")["spans"] == []

    def unit_economics() -> None:
        rows = {
            r["feature"]: r
            for r in pipeline.get("/unit-economics", tenant("acme"), **WINDOW)["features"]
        }
        assert (rows["support"]["calls"], rows["support"]["sessions"]) == (2, 1)
        assert (rows["support"]["value_units"], rows["search"]["calls"]) == (1, 0)

    def cache_savings() -> None:
        body = pipeline.get("/cache-savings", tenant("acme"), **WINDOW)
        assert [(r["feature"], r["model"], r["calls"]) for r in body["rows"]] == [
            ("support", "gpt-4o-mini", 2)
        ]

    def latency() -> None:
        body = pipeline.get("/latency", tenant("acme"), group_by=["tenant", "model"], **WINDOW)
        assert [(r["dimensions"], r["calls"], r["latency_calls"]) for r in body["rows"]] == [
            ({"tenant": "acme", "model": "gpt-4o-mini"}, 2, 2)
        ]
        assert body["rows"][0]["latency_p50_ms"] == 2000.0  # the fixture's spans last 2 s
        assert pipeline.get("/latency", tenant("acme"), tenant="globex", **WINDOW)["rows"] == []
        assert len(pipeline.get("/latency", **WINDOW)["rows"]) == 4

    def focus() -> None:
        def tenants(headers: Mapping[str, str]) -> set[str]:
            params = {**WINDOW, "by": ["tenant"]}
            answer = pipeline.client.get("/api/v1/export/focus", params=params, headers=headers)
            assert answer.status_code == 200, answer.text
            return {row["x_Tenant"] for row in csv.DictReader(io.StringIO(answer.text))}

        assert tenants(tenant("acme")) == {"acme"}
        assert {"acme", "globex"} <= tenants(ADMIN)

    def prices() -> None:
        body = pipeline.get("/prices", tenant("acme"))
        assert [(m["model"], m["calls"]) for m in body["models"]] == [("gpt-4o-mini", 2)]
        assert body["unpriced"] == [] and body["reprices"] == []
        everyone = pipeline.get("/prices")
        assert {m["model"] for m in everyone["models"]} >= {"gpt-4o", "no-such-model"}
        assert [u["model"] for u in everyone["unpriced"]] == ["no-such-model"]

    def outcomes() -> None:
        body = pipeline.get("/outcomes", tenant("acme"))
        assert [o["session_id"] for o in body["outcomes"]] == ["s-acme"]
        assert pipeline.get("/outcomes", tenant("acme"), session_id="s-glx")["outcomes"] == []

    def value_units() -> None:
        rows = {
            r["feature"]: r for r in pipeline.get("/value-units", tenant("acme"))["value_units"]
        }
        assert (rows["support"]["units"], rows["support"]["sessions"]) == (1, 1)
        everyone = {r["feature"]: r for r in pipeline.get("/value-units")["value_units"]}
        assert everyone["support"]["units"] == 2

    def value_unit_config() -> None:  # every tenant's features use the same units
        mine = pipeline.get("/value-units/config", tenant("acme"))["value_units"]
        assert mine == pipeline.get("/value-units/config")["value_units"]

    def anomalies() -> None:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        signals = [
            Signal("runaway_session", f"session:{name}", "up", now, now, now, Decimal(1),
                   Decimal(0), Decimal(2), 9.0, name, tenant_id=owner)
            for name, owner in (("s-acme", "acme"), ("s-glx", "globex"), ("s-none", None))
        ]  # fmt: skip
        record_signals(pipeline.cursor, signals)
        body = pipeline.get("/anomalies", tenant("acme"))
        assert [a["series"] for a in body["anomalies"]] == ["session:s-acme"]
        assert len(pipeline.get("/anomalies")["anomalies"]) == 3

    def budgets() -> None:
        store_budgets(
            pipeline.cursor,
            [
                Budget("a", "tenant", "acme", "month", Decimal(10)),
                Budget("g", "tenant", "globex", "month", Decimal(10)),
                Budget("all", "total", None, "day", Decimal(10)),
            ],
            dt.datetime.now(dt.UTC),
        )
        assert [b["name"] for b in pipeline.get("/budgets", tenant("acme"))["budgets"]] == ["a"]
        assert len(pipeline.get("/budgets")["budgets"]) == 3

    def budget_check() -> None:  # the live ledger, filled as at start-up
        service = pipeline.app.state.service
        seed_ledger(pipeline.cursor, service.ledger_feed, DAY0 + dt.timedelta(days=1))
        mine = pipeline.get("/budget/check", tenant("acme"), session_id="s-acme")
        assert [(s["scope"], s["value"], s["calls"]) for s in mine["scopes"]] == [
            ("session", "s-acme", 2)
        ]
        # Session ids are per tenant: acme's token never reaches globex's session.
        other = pipeline.get("/budget/check", tenant("acme"), session_id="s-glx")
        assert other["scopes"][0]["calls"] == 0
        denied = pipeline.client.get(
            "/api/v1/budget/check", params={"tenant": "globex"}, headers=tenant("acme")
        )
        assert denied.status_code == 403
        theirs = pipeline.get("/budget/check", session_id="s-glx", tenant="globex")
        assert theirs["scopes"][0]["calls"] == 1

    def jobs() -> None:
        body = pipeline.get("/jobs", tenant("acme"))
        assert body["jobs"] and all(j["total_rows"] is None for j in body["jobs"])
        assert all(j["watermark"] == j["input_high"] for j in body["jobs"])
        assert all(j["total_rows"] is not None for j in pipeline.get("/jobs")["jobs"])

    def gpu_fleet() -> None:
        for path in ("/api/v1/gpu/efficiency", "/api/v1/gpu/prices"):
            denied = pipeline.client.get(path, headers=tenant("acme"))
            assert denied.status_code == 403, (path, denied.text)
            assert pipeline.client.get(path, headers=ADMIN).status_code == 200

    def bills() -> None:  # bills cover the whole organisation
        for path in ("/api/v1/reconciliation", "/api/v1/reconciliation/bills"):
            denied = pipeline.client.get(path, headers=tenant("acme"))
            assert denied.status_code == 403, (path, denied.text)
            assert pipeline.client.get(path, headers=ADMIN).status_code == 200

    def gate() -> None:  # the organisation's CI runs
        for path in ("/api/v1/gate/runs", "/api/v1/gate/runs/1", "/api/v1/gate/compare"):
            denied = pipeline.client.get(path, headers=tenant("acme"))
            assert denied.status_code == 403, (path, denied.text)
        assert pipeline.client.get("/api/v1/gate/runs", headers=ADMIN).status_code == 200

    def search() -> None:
        mine = pipeline.get("/search", tenant("acme"), q="s-acme")
        assert [s["session_id"] for s in mine["sessions"]] == ["s-acme"]
        assert pipeline.get("/search", tenant("acme"), q="s-g")["sessions"] == []
        assert pipeline.get("/search", tenant("acme"), q="u2")["users"] == []
        assert [u["tenant_id"] for u in pipeline.get("/search", q="u2")["users"]] == ["globex"]
        everyone = pipeline.get("/search", q="s-g")["sessions"]  # a prefix: whole id first
        assert [s["session_id"] for s in everyone] == ["s-glx", "s-glx2"]
        assert pipeline.get("/search", q="s-")["sessions"] == []  # too short for a prefix
        for trace, seen in ((1, 1), (2, 0)):
            found = pipeline.get("/search", tenant("acme"), q=otlp.trace_id(trace).hex())
            assert len(found["traces"]) == seen
        user = pipeline.get("/search", tenant("acme"), q="u1")["users"]
        assert [(u["user_id"], u["calls"]) for u in user] == [("u1", 2)]

    def forecast() -> None:
        at = (DAY0 + dt.timedelta(days=1, hours=12)).isoformat()  # one complete day behind
        mine = pipeline.get("/forecast", tenant("acme"), at=at)
        acme = pipeline.costs(ADMIN, tenant="acme")["totals"]["cost_usd"]
        assert Decimal(mine["month_to_date_usd"]) == Decimal(acme) > 0
        assert mine["history_days"] == 1 and Decimal(mine["forecast_usd"]) > Decimal(acme)
        other = pipeline.get("/forecast", tenant("acme"), tenant="globex", at=at)
        assert other["month_to_date_usd"] == "0" and other["forecast_usd"] is None
        everyone = pipeline.get("/forecast", at=at)
        assert Decimal(everyone["month_to_date_usd"]) > Decimal(acme)

    def projections() -> None:
        at = (DAY0 + dt.timedelta(days=2)).isoformat()  # the drivers: Oct 26 - Nov 1
        mine = pipeline.get("/projections", tenant("acme"), at=at, multiplier=10)
        assert mine["self_hosted"] is None  # the GPUs are the whole fleet's
        assert [(f["feature"], f["calls_per_unit"]) for f in mine["features"]] == [("support", 2.0)]
        everyone = pipeline.get("/projections", at=at)
        assert {f["feature"] for f in everyone["features"]} == {"support", "search"}
        assert everyone["self_hosted"] == []

    def gpu_allocation() -> None:
        body = pipeline.get("/gpu/allocation", tenant("acme"), **WINDOW)
        assert body["deployments"] is None and body["rows"] == []
        assert pipeline.get("/gpu/allocation", **WINDOW)["deployments"] == []

    def savings() -> None:  # acme's calls are gpt-4o-mini only: nothing to swap for it
        mine = pipeline.get("/savings", tenant("acme"), kind=["model_swap"], **WINDOW)
        assert (mine["calls"], mine["opportunities"]) == (2, [])
        everyone = pipeline.get("/savings", kind=["model_swap"], **WINDOW)["opportunities"]
        assert [(o["feature"], o["model"], o["to_model"]) for o in everyone] == [
            ("support", "gpt-4o", "gpt-4o-mini")
        ]
        assert {e["model"] for e in everyone[0]["evidence"]} == {"gpt-4o", "gpt-4o-mini"}

    def what_if() -> None:
        query = {"feature": "support", "to_model": "gpt-4o", **WINDOW}
        mine = pipeline.get("/savings/what-if", tenant("acme"), **query)
        assert (mine["calls"], mine["moved_calls"]) == (2, 2)
        assert [e["model"] for e in mine["evidence"]] == ["gpt-4o-mini"]
        everyone = pipeline.get("/savings/what-if", **query)
        assert (everyone["calls"], everyone["moved_calls"]) == (3, 2)
        other = pipeline.client.get(
            "/api/v1/savings/what-if",
            params={**query, "tenant": "globex"},
            headers=tenant("acme"),
        )
        assert other.status_code == 404, other.text  # globex's calls: none in acme's scope

    return {
        "/api/v1/savings": savings,
        "/api/v1/savings/what-if": what_if,
        "/api/v1/reconciliation": bills,
        "/api/v1/reconciliation/bills": bills,
        "/api/v1/gate/runs": gate,
        "/api/v1/gate/runs/{run_id}": gate,
        "/api/v1/gate/compare": gate,
        "/api/v1/gpu/efficiency": gpu_fleet,
        "/api/v1/gpu/prices": gpu_fleet,
        "/api/v1/gpu/allocation": gpu_allocation,
        "/api/v1/costs": costs,
        "/api/v1/sessions": sessions,
        "/api/v1/sessions/{session_id}": session,
        "/api/v1/spans": spans,
        "/api/v1/unit-economics": unit_economics,
        "/api/v1/cache-savings": cache_savings,
        "/api/v1/latency": latency,
        "/api/v1/export/focus": focus,
        "/api/v1/prices": prices,
        "/api/v1/outcomes": outcomes,
        "/api/v1/value-units": value_units,
        "/api/v1/jobs": jobs,
        "/api/v1/anomalies": anomalies,
        "/api/v1/budgets": budgets,
        "/api/v1/budget/check": budget_check,
        "/api/v1/search": search,
        "/api/v1/value-units/config": value_unit_config,
        "/api/v1/forecast": forecast,
        "/api/v1/projections": projections,
    } | alert_checks(pipeline.client, pipeline.cursor, pipeline.run, ADMIN, tenant("acme"), NOW)


def test_a_tenant_token_sees_only_its_tenant_on_every_endpoint(pipeline: Pipeline) -> None:
    _tenant_world(pipeline)
    checks = _acme_checks(pipeline)
    paths = pipeline.app.openapi()["paths"]
    readable = {path for path in paths if path.startswith("/api/v1") and "get" in paths[path]}
    assert readable == set(checks), "a GET endpoint has no tenant-scope check here"
    for path, check in checks.items():
        check()
        # Without a token, or with a wrong one: nothing at all.
        concrete = path.replace("{session_id}", "s-acme").replace("{run_id}", "1")
        for headers in ({}, {"authorization": "Bearer acme-token-guess"}):
            denied = pipeline.client.get(concrete, params=WINDOW, headers=headers)
            assert denied.status_code == 401, (path, denied.text)
    # The other tenant sees its own numbers.
    assert pipeline.costs(tenant("globex"))["totals"]["calls"] == 2


def test_a_tenant_token_cannot_change_shared_settings(pipeline: Pipeline) -> None:
    price = {"provider": "openai", "model": "gpt-4o", "input_mtok": "1", "output_mtok": "2"}
    denied = pipeline.client.post("/api/v1/prices", json=price, headers=tenant("acme"))
    assert denied.status_code == 403
    assert pipeline.client.post("/api/v1/prices/reload", headers=tenant("acme")).status_code == 403
    assert pipeline.client.delete("/api/v1/prices/1", headers=tenant("acme")).status_code == 403
    assert pipeline.client.post("/api/v1/prices", json=price, headers=ADMIN).status_code == 201


# Every /api/v1 operation that changes something, by what a tenant-scoped token gets there.
SHARED_WRITES = {  # change what every tenant sees: an unscoped token only (403)
    ("POST", "/api/v1/prices"),
    ("DELETE", "/api/v1/prices/{override_id}"),
    ("POST", "/api/v1/prices/reload"),
    ("POST", "/api/v1/budgets/reload"),
    ("POST", "/api/v1/gpu/prices"),
    ("POST", "/api/v1/reconciliation/bills"),
    ("POST", "/api/v1/gate/runs"),
    ("PUT", "/api/v1/value-units/config/{feature}"),
    ("DELETE", "/api/v1/value-units/config/{feature}"),
    ("POST", "/api/v1/value-units/config/reload"),
}
# Scoped to the token's tenant: `alert_checks` (the "alert" and "mutes" checks) holds an
# acme token to acme's incidents and mutes (404 for globex's, its mutes forced to acme).
TENANT_WRITES = {
    ("POST", "/api/v1/alerts/mutes"),
    ("DELETE", "/api/v1/alerts/mutes/{mute_id}"),
    ("POST", "/api/v1/alerts/{incident_id}/acknowledge"),
}
# An ingest surface (apps report outcomes): ingest tokens, never tenant tokens.
INGEST_WRITES = {("POST", "/api/v1/outcomes")}


def test_a_tenant_token_writes_only_within_its_tenant_on_every_endpoint(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    paths = pipeline.app.openapi()["paths"]
    writes = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/v1")
        for method in operations
        if method != "get"
    }
    assert writes == SHARED_WRITES | TENANT_WRITES | INGEST_WRITES, "a write has no check here"
    for method, path in SHARED_WRITES:
        concrete = path.replace("{override_id}", "1").replace("{feature}", "support")
        denied = pipeline.client.request(method, concrete, json={}, headers=tenant("acme"))
        assert denied.status_code == 403, (method, path, denied.text)
    _tenant_world(pipeline)
    checks = _acme_checks(pipeline)
    checks["/api/v1/alerts/{incident_id}"]()
    checks["/api/v1/alerts/mutes"]()
    # With ingest tokens on, a tenant token cannot report outcomes (for any tenant).
    settings_ = Settings(
        data_dir=tmp_path / "ingest-tokens",
        grpc_port=0,
        ingest_tokens=["ingest-token"],
        api_tokens=["admin-token"],
        tenant_tokens=list(TENANTS.items()),
    )
    client = TestClient(create_app(settings_, pipeline.database))
    outcome = {"name": "ticket_resolved", "session_id": "s-glx", "id": "o-1"}
    posted = client.post("/api/v1/outcomes", json=outcome, headers=tenant("acme"))
    assert posted.status_code == 401, posted.text


def test_tenant_tokens_setting() -> None:
    parsed = Settings(tenant_tokens="acme:tok1, org:42:tok2,acme:tok3")  # type: ignore[arg-type]
    assert parsed.tenant_tokens == [("acme", "tok1"), ("org:42", "tok2"), ("acme", "tok3")]
    for bad in ("acme", "acme:", ":tok", "acme:t,globex:t"):
        with pytest.raises(ValueError, match="tenant token"):
            Settings(tenant_tokens=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="both"):
        Settings(api_tokens="t", tenant_tokens="acme:t")  # type: ignore[arg-type]


def test_every_token_grants_its_own_scope() -> None:
    tokens = TokenSet(["admin"], [("acme", "a-1"), ("acme", "a-2"), ("globex", "g")])
    granted = {t: tokens.scope(f"Bearer {t}") for t in ("admin", "a-1", "a-2", "g")}
    assert granted == {
        "admin": TenantScope(None),
        "a-1": TenantScope("acme"),
        "a-2": TenantScope("acme"),
        "g": TenantScope("globex"),
    }
    assert tokens.scope("bearer   g ") == TenantScope("globex")
    for bad in (None, "", "Bearer", "Bearer a-", "Basic a-1", "a-1", "Bearer admin2"):
        assert tokens.scope(bad) is None
    assert TokenSet([]).scope(None) == TenantScope(None)  # no tokens: open, every tenant
    assert TokenSet([], [("acme", "a")]).scope(None) is None  # tenant tokens alone: closed
