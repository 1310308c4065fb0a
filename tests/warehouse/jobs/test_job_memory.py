"""The jobs' memory is bounded: DuckDB gets the `memory_limit` setting (a quarter of the
memory, at most 4 GiB, by default), and the outcomes job unpacks the events of a chunk's
spans a slice at a time, so a chunk full of large events fits in a small limit."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.ingest.normalize import Normalizer
from collector.settings import DEFAULT_MEMORY_CAP, Settings, available_memory
from sample_data.harness import otlp
from tests.warehouse.spans.test_attribution import NOW, Warehouse
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.outcomes import extraction
from warehouse.outcomes.records import NAME_ATTRIBUTE, OUTCOME_EVENT
from warehouse.store.database import Database

GIB = 1024**3


def with_outcome_events(trace: int, events: int, payload: int) -> Span:
    """A span reporting `events` outcomes, each event carrying `payload` bytes of text."""
    span = otlp.span(trace, 1, name="agent step")
    for index in range(events):
        event = span.events.add(name=OUTCOME_EVENT, time_unix_nano=otlp.BASE_NS + index)
        event.attributes.extend(
            [
                KeyValue(key=NAME_ATTRIBUTE, value=AnyValue(string_value="ticket_resolved")),
                KeyValue(key="detail", value=AnyValue(string_value="x" * payload)),
            ]
        )
    return span


def test_a_chunk_of_large_events_fits_in_a_small_memory_limit(tmp_path: Path) -> None:
    """100 spans of 20 outcome events of 10 kB each (20 MB of events, each span within the
    ingest budget of a span's attributes, events and links) in one chunk, under a 1 GiB
    limit, unpacked a slice at a time."""
    database = Database.open(tmp_path / "spendscope.duckdb", memory_limit_bytes=GIB)
    try:
        warehouse = Warehouse(database, Normalizer())
        for first in range(1, 101, 20):
            warehouse.ingest_batches(
                [[with_outcome_events(t, 20, 10_000)] for t in range(first, first + 20)]
            )
        cursor = warehouse.cursor
        assert run_job(cursor, JOBS[extraction.NAME], NOW) == 100 * 20
        assert cursor.execute("SELECT count(*) FROM outcomes").fetchone() == (100 * 20,)
        slices = cursor.execute(
            extraction.SLICES, {"low": 0, "high": 100, "slice_bytes": extraction.SLICE_BYTES}
        ).fetchall()
        assert len(slices) >= 100 * 20 * 10_000 // extraction.SLICE_BYTES
    finally:
        database.close()


def test_slices_cover_every_candidate_span_once(database: Database) -> None:
    warehouse = Warehouse(database, Normalizer())
    warehouse.ingest_batches(
        [[with_outcome_events(t, 3, size)] for t, size in enumerate([10, 9_000, 20, 5], 1)]
        + [[otlp.span(9, 1)]]  # no outcome: not a candidate
    )
    slices = warehouse.cursor.execute(
        extraction.SLICES, {"low": 0, "high": 5, "slice_bytes": 20_000}
    ).fetchall()
    rows = warehouse.cursor.execute(
        "SELECT rowid FROM spans WHERE events <> '[]' ORDER BY rowid"
    ).fetchall()
    covered = [r for (r,) in rows if any(first <= r <= last for first, last in slices)]
    assert covered == [r for (r,) in rows]
    assert all(slices[i][1] < slices[i + 1][0] for i in range(len(slices) - 1))
    assert len(slices) == 2  # spans 1 and 2 start in the first 20 kB, 3 and 4 after it
    assert run_job(warehouse.cursor, JOBS[extraction.NAME], NOW) == 12


def test_one_large_span_among_many_without_events_scans_in_a_small_limit(
    tmp_path: Path,
) -> None:
    """DuckDB 1.5.5 copies a long string once per NULL after it when it scans a column
    (duckdb/duckdb#24897): with spans without events stored as NULL, one span at the
    ingest budget among 4,000 others needed about 1.8 GB to scan `events`, and every job
    that reads it failed out of memory under a 500 MB limit. Stored as `[]`, it fits."""
    path = tmp_path / "spendscope.duckdb"
    database = Database.open(path, memory_limit_bytes=500 * 1000**2)
    try:
        warehouse = Warehouse(database, Normalizer())
        big = with_outcome_events(1, 30, 10_000)  # ~300 kB: cut to the ingest budget
        others = [otlp.span(t, 1) for t in range(2, 4002)]
        warehouse.ingest_batches([[big], *(others[i : i + 1000] for i in range(0, 4000, 1000))])
        warehouse.cursor.execute("CHECKPOINT")
    finally:
        database.close()
    database = Database.open(path, memory_limit_bytes=500 * 1000**2)
    try:
        cursor = database.cursor()
        largest, nulls = cursor.execute(
            "SELECT max(strlen(events)), count(*) FILTER (events IS NULL) FROM spans"
        ).fetchone() or (0, 0)
        assert largest > 200_000 and nulls == 0
        assert run_job(cursor, JOBS[extraction.NAME], NOW) > 0
        found = cursor.execute("SELECT count(*) FROM spans WHERE contains(events, 'x')")
        assert found.fetchone() == (1,)
    finally:
        database.close()


def test_the_memory_limit_reaches_duckdb(tmp_path: Path) -> None:
    database = Database.open(tmp_path / "spendscope.duckdb", memory_limit_bytes=300 * 1000**2)
    try:
        setting = database.cursor().execute("SELECT current_setting('memory_limit')").fetchone()
        assert setting == ("286.1 MiB",)
    finally:
        database.close()


def test_the_memory_limit_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().memory_limit_bytes == min(available_memory() // 4, DEFAULT_MEMORY_CAP)
    monkeypatch.setenv("SPENDSCOPE_MEMORY_LIMIT", "512MiB")
    assert Settings().memory_limit_bytes == 512 * 1024**2
    monkeypatch.setenv("SPENDSCOPE_MEMORY_LIMIT", "1GB")
    assert Settings().memory_limit_bytes == 1000**3
