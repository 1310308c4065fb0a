"""The warehouse on a lake (DuckLake, its catalog in a temporary PostgreSQL cluster).

The migrations build the same tables and columns as on the embedded file (without the
constraints DuckLake lacks); spans round-trip through the writer's insert; a span stored
twice (a retry that reached another node) is read once, as first committed; and the
attribution, pricing and rollup jobs give the lake the costs they give the file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from collector.ingest.normalize import Normalizer
from collector.ingest.traces.decode import JSON, decode_traces
from sample_data.bills import BilledCall
from sample_data.harness.span_warehouse import otlp_json
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.pricing import job as pricing
from warehouse.rollups import job as rollups
from warehouse.spans import attribution
from warehouse.spans.insert import insert_spans, last_batch_id
from warehouse.store import compaction, lake
from warehouse.store.database import Database

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
CALLS = [
    BilledCall(NOW - dt.timedelta(minutes=n), "openai", "gpt-4o", 1000 + n, 100 + n)
    for n in range(20)
]

COLUMNS = """
SELECT table_name, column_name, data_type, is_nullable
FROM information_schema.columns
WHERE table_catalog = current_database() AND table_schema = 'main'
ORDER BY table_name, column_name
"""


def _store(cursor: duckdb.DuckDBPyConnection, calls: list[BilledCall], first_id: int) -> None:
    decoded = decode_traces(otlp_json(calls, first_id), JSON, Normalizer())
    assert decoded.rejected == 0
    cursor.begin()
    inserted = insert_spans(cursor, decoded.table, last_batch_id(cursor) + 1, NOW, lake=True)
    cursor.commit()
    assert inserted == len(calls)


def test_the_migrations_build_the_files_tables_on_a_lake(
    lake_database: Database, database: Database
) -> None:
    lake_columns = lake_database.cursor().execute(COLUMNS).fetchall()
    file_columns = database.cursor().execute(COLUMNS).fetchall()
    # The lake's sequences are rows of a table of their own (warehouse.store.numbering), the
    # job runner's lease another (warehouse.store.leadership).
    own = {"store_sequences", "leader_lease"}
    assert [c for c in lake_columns if c[0] not in own] == file_columns
    sequences = lake_database.cursor().execute("SELECT name FROM store_sequences ORDER BY 1")
    assert ("call_costs_priced_seq",) in sequences.fetchall()
    version = lake_database.cursor().execute("SELECT version_num FROM alembic_version")
    assert (
        version.fetchall()
        == database.cursor().execute("SELECT version_num FROM alembic_version").fetchall()
    )


def test_a_second_node_finds_the_lake_migrated(lake_url: str, tmp_path: Path) -> None:
    target = lake.parse_target(lake_url, str(tmp_path / "lake-data"))
    first = Database.open_lake(target)
    second = Database.open_lake(target)  # migrates nothing: the lake is at head
    with first.cursor() as a, second.cursor() as b:
        a.execute("INSERT INTO job_state VALUES ('probe', 7, NULL, 0, 0, 0, NULL)")
        assert b.execute("SELECT watermark FROM job_state WHERE name = 'probe'").fetchall() == [
            (7,)
        ]
    first.close()
    second.close()


def test_spans_stored_twice_are_read_once_in_commit_order(lake_database: Database) -> None:
    cursor = lake_database.cursor()
    _store(cursor, CALLS[:10], 1)
    first_batch = last_batch_id(cursor)
    _store(cursor, CALLS[5:], 6)  # 6..10 again (a retry through another node), then 11..20
    assert cursor.execute("SELECT count(*) FROM main.spans").fetchone() == (25,)
    rows = cursor.execute(
        "SELECT count(*), count(DISTINCT (trace_id, span_id)), max(batch_id) FROM spans"
    ).fetchone()
    assert rows == (20, 20, last_batch_id(cursor))
    # The duplicates keep the batch of their first commit.
    repeated = cursor.execute(
        "SELECT DISTINCT batch_id FROM spans WHERE input_tokens BETWEEN 1005 AND 1009"
    ).fetchall()
    assert repeated == [(first_batch,)]
    assert last_batch_id(cursor) > first_batch


def test_the_jobs_cost_a_lake_as_they_cost_the_file(
    lake_database: Database, database: Database
) -> None:
    totals = []
    for warehouse, is_lake in ((lake_database, True), (database, False)):
        cursor = warehouse.cursor()
        for first in (1, 6, 11):  # overlapping batches: 6..10 arrive twice
            decoded = decode_traces(otlp_json(CALLS[first - 1 :][:10], first), JSON, Normalizer())
            cursor.begin()
            insert_spans(cursor, decoded.table, last_batch_id(cursor) + 1, NOW, lake=is_lake)
            cursor.commit()
            for name in (attribution.NAME, pricing.NAME, rollups.NAME):
                run_job(cursor, JOBS[name], NOW)
        totals.append(
            cursor.execute(
                "SELECT (SELECT count(*) FROM model_calls), (SELECT sum(cost_usd) FROM "
                "call_costs), (SELECT sum(calls) FROM rollup_hourly), "
                "(SELECT sum(cost_usd) FROM rollup_hourly)"
            ).fetchone()
        )
    assert totals[0] == totals[1]
    assert totals[0][0] == 20


def test_a_warehouse_value_that_is_no_lake_is_refused(tmp_path: Path) -> None:
    with pytest.raises(lake.LakeSettingsError, match="SPENDSCOPE_WAREHOUSE"):
        lake.parse_target("postgres:dbname=x", str(tmp_path))
    with pytest.raises(lake.LakeSettingsError, match="SPENDSCOPE_LAKE_DATA_PATH"):
        lake.parse_target("ducklake:postgres:dbname=x", None)


def test_compaction_merges_the_small_files_and_keeps_the_batch_ids(
    lake_database: Database,
) -> None:
    cursor = lake_database.cursor()
    for first in range(1, 200, 20):  # ten commits of twenty spans: ten small files
        _store(cursor, CALLS[:20], first)
    batches = cursor.execute("SELECT batch_id, count(*) FROM spans GROUP BY 1 ORDER BY 1")
    before = batches.fetchall()
    report = compaction.compact(cursor, keep=dt.timedelta(0))
    assert report["before"]["data_files"] >= 10
    assert report["after"]["data_files"] < report["before"]["data_files"]
    assert report["after"]["snapshots"] < report["before"]["snapshots"]
    assert set(report["seconds"]) == {
        "flush_inlined",
        "merge_files",
        "expire_snapshots",
        "cleanup_files",
    }
    after = cursor.execute("SELECT batch_id, count(*) FROM spans GROUP BY 1 ORDER BY 1")
    assert after.fetchall() == before


def test_every_job_runs_on_a_lake_and_runs_again_with_nothing_to_do(
    lake_database: Database,
) -> None:
    cursor = lake_database.cursor()
    _store(cursor, CALLS, 1)
    for job in JOBS.values():
        run_job(cursor, job, NOW)  # a JobError says which failed, and why
        run_job(cursor, job, NOW)
    states = dict(cursor.execute("SELECT name, last_error FROM job_state").fetchall())
    assert {"attribution", "outcomes", "pricing", "rollups"} <= set(states)
    assert [name for name, error in states.items() if error] == []
