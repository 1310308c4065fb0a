"""The attribution job on a real warehouse: spans go in through the ingest path (decode, then
`insert_spans` in numbered batches, as the writer does) and the job runs as the scheduler
runs it."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.ingest.normalize import DEFAULT_RULES, DimensionRules, Normalizer
from collector.ingest.traces.decode import PROTOBUF, decode_traces
from sample_data.harness import otlp
from warehouse.jobs.incremental import BATCHES_PER_CHUNK, JOBS, run_job
from warehouse.spans import attribution
from warehouse.spans.insert import insert_spans, last_batch_id
from warehouse.store.database import Database

NOW = dt.datetime(2025, 11, 22, 12, tzinfo=dt.UTC)
DIMENSIONS = ("feature", "session_id", "user_id", "tenant_id", "environment", "agent_name")
Dims = dict[str, str | None]


class Warehouse:
    """Ingest and attribution against one real DuckDB warehouse."""

    def __init__(self, database: Database, normalizer: Normalizer) -> None:
        self.cursor = database.cursor()
        self.normalizer = normalizer

    def ingest(self, *spans: Span, resource: otlp.Attributes | None = None) -> int:
        """One ingest batch, committed; returns the spans that were new."""
        return self.ingest_batches([list(spans)], resource)

    def ingest_batches(
        self, batches: list[list[Span]], resource: otlp.Attributes | None = None
    ) -> int:
        """Consecutive ingest batches in one commit (commits cost an fsync each)."""
        inserted = 0
        self.cursor.begin()
        for spans in batches:
            body = otlp.request(spans, resource).SerializeToString()
            decoded = decode_traces(body, PROTOBUF, self.normalizer)
            assert decoded.rejected == 0, decoded.rejection_message
            batch_id = last_batch_id(self.cursor) + 1
            inserted += insert_spans(self.cursor, decoded.table, batch_id, NOW)
        self.cursor.commit()
        return inserted

    def attribute(self) -> int:
        return run_job(self.cursor, JOBS[attribution.NAME], NOW)

    def calls(self, trace: int = 1) -> dict[int, Dims]:
        """Model calls of a trace as attributed: span number -> dimensions."""
        rows = self.cursor.execute(
            f"SELECT span_id, {', '.join(DIMENSIONS)} FROM model_calls WHERE trace_id = ?",
            [otlp.trace_id(trace)],
        ).fetchall()
        return {
            int.from_bytes(row[0], "big"): dict(zip(DIMENSIONS, row[1:], strict=True))
            for row in rows
        }

    def snapshot(self) -> list[tuple[object, ...]]:
        return self.cursor.execute(
            "SELECT * FROM model_calls ORDER BY trace_id, span_id"
        ).fetchall()

    def model_call_spans(self) -> int:
        row = self.cursor.execute("SELECT count(*) FROM spans WHERE is_model_call").fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture
def warehouse(database: Database) -> Iterator[Warehouse]:
    wh = Warehouse(database, Normalizer())
    yield wh
    wh.cursor.close()


def dims(**values: str) -> Dims:
    return {d: values.get(d) for d in DIMENSIONS}


def call(trace: int, number: int, parent: int | None, **attributes: str | int) -> Span:
    return otlp.span(
        trace, number, parent, name="chat", attributes={**otlp.MODEL_CALL, **attributes}
    )


ROOT = {
    "spendscope.feature": "search",
    "session.id": "s-1",
    "user.id": "u-1",
    "spendscope.tenant": "acme",
    "deployment.environment.name": "prod",
}


def test_children_arriving_before_their_root_are_attributed_when_it_arrives(
    warehouse: Warehouse,
) -> None:
    warehouse.ingest(call(1, 3, 2), call(1, 4, 2, **{"user.id": "u-own"}))
    warehouse.ingest(otlp.span(1, 2, 1, name="retrieve"))
    assert warehouse.attribute() == 2
    # The root is missing: the step is treated as a root, the calls keep their own values.
    assert warehouse.calls() == {3: dims(), 4: dims(user_id="u-own")}

    warehouse.ingest(otlp.span(1, 1, name="handle", attributes=ROOT))
    warehouse.attribute()
    inherited = dims(
        feature="search", session_id="s-1", user_id="u-1", tenant_id="acme", environment="prod"
    )
    assert warehouse.calls() == {3: inherited, 4: {**inherited, "user_id": "u-own"}}


def test_three_levels_nearest_ancestor_wins_and_own_value_beats_ancestors(
    warehouse: Warehouse,
) -> None:
    warehouse.ingest(
        otlp.span(1, 1, attributes=ROOT),
        otlp.span(1, 2, 1, attributes={"spendscope.feature": "rerank", "user.id": "u-2"}),
        otlp.span(1, 3, 2, attributes={"session.id": "s-3", "gen_ai.agent.name": "ranker"}),
        call(1, 10, 3),  # under all three
        call(1, 11, 3, **{"spendscope.feature": "own", "session.id": "s-own"}),
        call(1, 12, 2),  # under the middle one
        call(1, 13, 1),  # straight under the root
    )
    warehouse.attribute()
    base = dims(
        feature="search", session_id="s-1", user_id="u-1", tenant_id="acme", environment="prod"
    )
    middle = {**base, "feature": "rerank", "user_id": "u-2"}
    assert warehouse.calls() == {
        10: {**middle, "session_id": "s-3", "agent_name": "ranker"},
        11: {**middle, "session_id": "s-own", "agent_name": "ranker", "feature": "own"},
        12: middle,
        13: base,
    }


def test_orphan_chain_is_a_root_until_its_parent_arrives(warehouse: Warehouse) -> None:
    # trace 1: leaf -> step -> (missing root); trace 2 complete, must not be disturbed.
    warehouse.ingest(
        otlp.span(1, 2, 1, attributes={"session.id": "s-step"}),
        call(1, 3, 2),
        otlp.span(2, 1, attributes={"spendscope.feature": "other"}),
        call(2, 2, 1),
    )
    warehouse.attribute()
    assert warehouse.calls(1) == {3: dims(session_id="s-step")}
    assert warehouse.calls(2) == {2: dims(feature="other")}

    warehouse.ingest(otlp.span(1, 1, attributes=ROOT))
    warehouse.attribute()
    assert warehouse.calls(1) == {
        3: dims(
            feature="search",
            session_id="s-step",
            user_id="u-1",
            tenant_id="acme",
            environment="prod",
        )
    }
    assert warehouse.calls(2) == {2: dims(feature="other")}


@pytest.mark.parametrize(
    "rollup",
    [
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"},
        {"openinference.span.kind": "AGENT", "agent.name": "support"},
        {"traceloop.span.kind": "agent", "traceloop.entity.name": "support"},
        {"gen_ai.aggregated_usage.input_tokens": 300, "gen_ai.agent.name": "support"},
    ],
    ids=["invoke_agent", "openinference", "traceloop", "aggregated_usage"],
)
def test_roll_up_spans_are_not_model_calls_but_pass_their_dimensions_on(
    warehouse: Warehouse, rollup: dict[str, str | int]
) -> None:
    # The roll-up carries its children's summed usage, and would double the cost if priced.
    usage = {**otlp.MODEL_CALL, "gen_ai.usage.input_tokens": 200, "gen_ai.usage.output_tokens": 40}
    warehouse.ingest(
        otlp.span(1, 1, attributes=ROOT),
        otlp.span(1, 2, 1, name="agent", attributes={**usage, **rollup}),
        call(1, 3, 2),
        call(1, 4, 2),
    )
    assert warehouse.model_call_spans() == 2
    warehouse.attribute()
    expected = dims(
        feature="search",
        session_id="s-1",
        user_id="u-1",
        tenant_id="acme",
        environment="prod",
        agent_name="support",
    )
    assert warehouse.calls() == {3: expected, 4: expected}


def test_rerunning_the_job_or_resending_spans_changes_nothing(warehouse: Warehouse) -> None:
    spans = [otlp.span(t, 1, attributes=ROOT) for t in range(1, 6)]
    spans += [call(t, n, 1) for t in range(1, 6) for n in (2, 3)]
    warehouse.ingest(*spans[:7])
    warehouse.ingest(*spans[7:])
    assert warehouse.attribute() == 10
    before = warehouse.snapshot()
    state = warehouse.cursor.execute("SELECT watermark FROM job_state").fetchall()

    assert warehouse.attribute() == 0
    assert warehouse.ingest(*spans) == 0  # an exporter's retry of what was stored
    assert warehouse.attribute() == 0
    assert warehouse.snapshot() == before
    assert warehouse.cursor.execute("SELECT watermark FROM job_state").fetchall() == state
    assert len(before) == warehouse.model_call_spans() == 10


def test_feature_default_is_the_last_resort(database: Database) -> None:
    rules = DimensionRules(
        feature_keys=DEFAULT_RULES.feature_keys,
        tenant_keys=DEFAULT_RULES.tenant_keys,
        feature_from_service=True,
    )
    warehouse = Warehouse(database, Normalizer(rules))
    # Trace 1 names no feature anywhere: the service name stands in.
    warehouse.ingest(otlp.span(1, 1), call(1, 2, 1), resource={"service.name": "billing"})
    # Trace 2 names it on the root, in another service: the root's feature wins.
    warehouse.ingest(
        otlp.span(2, 1, attributes={"spendscope.feature": "search"}),
        resource={"service.name": "gateway"},
    )
    warehouse.ingest(call(2, 2, 1), resource={"service.name": "billing"})
    warehouse.attribute()
    assert warehouse.calls(1) == {2: dims(feature="billing")}
    assert warehouse.calls(2) == {2: dims(feature="search")}


def test_parent_cycles_terminate_and_every_model_call_is_attributed(
    warehouse: Warehouse,
) -> None:
    warehouse.ingest(
        otlp.span(1, 1, 2, attributes={"spendscope.feature": "a"}),  # 1 <-> 2
        otlp.span(1, 2, 1, attributes={"user.id": "u-2"}),
        call(1, 3, 1, **{"session.id": "s-3"}),  # hangs below the cycle
        call(1, 4, 4, **{"spendscope.feature": "self"}),  # its own parent
        otlp.span(2, 1, attributes={"spendscope.feature": "ok"}),  # a sane trace beside them
        call(2, 2, 1),
    )
    done = threading.Event()
    result: list[int] = []

    def run() -> None:
        result.append(warehouse.attribute())
        done.set()

    # The job runs on the warehouse's cursor in another thread; a hang fails here, not CI.
    threading.Thread(target=run, daemon=True).start()
    assert done.wait(30), "the attribution job did not terminate on a parent cycle"
    assert result == [3]
    assert warehouse.model_call_spans() == 3
    calls = warehouse.calls(1)
    assert set(calls) == {3, 4}
    assert calls[3]["session_id"] == "s-3"
    assert calls[4]["feature"] == "self"
    assert warehouse.calls(2) == {2: dims(feature="ok")}


def test_a_chain_deeper_than_the_walk_still_yields_its_model_call(warehouse: Warehouse) -> None:
    depth = attribution.MAX_DEPTH + 10
    chain = [otlp.span(1, 1, attributes={"spendscope.feature": "deep"})]
    chain += [otlp.span(1, n, n - 1) for n in range(2, depth + 1)]
    warehouse.ingest(*chain, call(1, depth + 1, depth), call(1, depth + 2, 5))
    warehouse.attribute()
    calls = warehouse.calls()
    assert set(calls) == {depth + 1, depth + 2}
    assert calls[depth + 2]["feature"] == "deep"


def test_many_batches_are_processed_in_chunks_with_one_watermark(
    warehouse: Warehouse,
) -> None:
    batches = 2 * BATCHES_PER_CHUNK + 10  # the job takes three chunks
    # Each model call arrives in one batch and its root in the next: one trace spans chunks.
    warehouse.ingest_batches(
        [
            [call(t, 2, 1)]
            if t % 2
            else [otlp.span(t - 1, 1, attributes={"spendscope.feature": f"f{t}"})]
            for t in range(1, batches + 1)
        ]
    )
    warehouse.attribute()
    assert len(warehouse.snapshot()) == warehouse.model_call_spans() == batches // 2
    for t in range(1, batches + 1, 2):
        assert warehouse.calls(t) == {2: dims(feature=f"f{t + 1}")}
    row = warehouse.cursor.execute("SELECT watermark FROM job_state").fetchone()
    assert row == (batches,)


def test_a_model_call_days_after_its_root_still_inherits(warehouse: Warehouse) -> None:
    """A long-running agent session: the root started three days before this call."""
    three_days_ms = 3 * 24 * 3600 * 1000
    warehouse.ingest(otlp.span(1, 1, attributes=ROOT), call(1, 2, 1))
    warehouse.attribute()
    warehouse.ingest(
        otlp.span(1, 3, 1, start_offset_ms=three_days_ms),
        otlp.span(1, 4, 3, name="chat", start_offset_ms=three_days_ms, attributes=otlp.MODEL_CALL),
    )
    warehouse.attribute()
    inherited = dims(
        feature="search", session_id="s-1", user_id="u-1", tenant_id="acme", environment="prod"
    )
    assert warehouse.calls() == {2: inherited, 4: inherited}


def test_a_run_asked_to_stop_ends_after_the_chunk_under_way(warehouse: Warehouse) -> None:
    """At shutdown the scheduler asks jobs to stop: a long catch-up commits the chunk it is
    on, keeps its watermark there, and the next run carries on from it."""
    batches = 2 * BATCHES_PER_CHUNK + 10
    warehouse.ingest_batches([[call(t, 2, 1)] for t in range(1, batches + 1)])
    asked: list[int] = []

    def stopping() -> bool:
        asked.append(len(asked))
        return len(asked) > 2  # asked on entry and before each chunk: stop before the second

    job = JOBS[attribution.NAME]
    assert run_job(warehouse.cursor, job, NOW, stopping=stopping) == BATCHES_PER_CHUNK
    watermark = warehouse.cursor.execute("SELECT watermark FROM job_state").fetchall()
    assert watermark == [(BATCHES_PER_CHUNK,)]
    assert len(warehouse.snapshot()) == BATCHES_PER_CHUNK

    assert run_job(warehouse.cursor, job, NOW, stopping=lambda: True) == 0
    assert warehouse.attribute() == batches - BATCHES_PER_CHUNK
    assert len(warehouse.snapshot()) == warehouse.model_call_spans() == batches
