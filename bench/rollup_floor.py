"""What the full rollup costs at least in DuckDB, beside the bare GROUP BY and the job itself.

    .venv/bin/python -m bench.rollup_floor [--calls 10000000] [--days 30]
                                           [--data-dir DIR [--reuse]] [--memory-limit 6GB]

`bench.rollups` holds the rollups job's full run to 3x the CPU of a bare GROUP BY of the same
calls by hour and the hourly dimensions. The job must produce more than that GROUP BY does:
the hourly rows, and also the days, the per-trace rows, the sessions and the user-days, and
it must write them all to disk. This measures, on `bench.rollups`' generated data and in one
run (process CPU seconds, DuckDB's threads included):

1. the bare GROUP BY (`bench.rollups.BARE_GROUP_BY`), after a warm-up run;
2. every aggregation the job does, written to temp tables (memory, no write to disk), with the
   job's own SQL (`warehouse.rollups.job`): the three call tables joined once into memory
   (`rollup_calls`), the hourly rows, the per-trace rows and (from the hours) the days; the
   sessions and the user-days from the trace rows, with their exact distinct counts (traces
   per session, sessions per user-day) and without them. The other plan for the first two,
   each straight from its own join instead of the joined calls held in memory, is measured
   too and the cheaper of the two counts;
3. writing: the same rows inserted into the warehouse's rollup tables and committed, beside
   copying them into temp tables: what storing them costs beyond holding them in memory;
4. the rollups job's own full run over the same calls, for reference.

It prints each figure with its ratio to the bare GROUP BY and two sums:
- the **floor**: the aggregations in memory, the distinct counts left out, nothing written:
  the least of the plans measured here, below anything the job could be made to cost
  while it computes these rollups with DuckDB aggregations and stores them;
- the same with the exact counts and the writes: the least this job, as designed, can cost.

A measurement, not a check: it exits 0. Results: docs/benchmarks.md, "The floor: why 3x is
out of reach".
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import duckdb

from bench.rollups import (
    BARE_GROUP_BY,
    NOW,
    add_data_arguments,
    empty_rollups,
    generated_warehouse,
)
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.rollups import job as rollups

TARGET_RATIO = 3.0
# Each rollup table, and the temp table its rows are computed into here.
TABLES = {
    "rollup_hourly": "floor_hourly",
    "rollup_daily": "floor_daily",
    "rollup_traces": "floor_traces",
    "rollup_sessions": "floor_sessions",
    "rollup_users": "floor_users",
}
DISTINCT_TRACES = "count(DISTINCT trace_id)"
DISTINCT_SESSIONS = "count(DISTINCT session_id)"


def _cpu(cursor: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> float:
    started = time.process_time()
    cursor.execute(sql, params)
    return time.process_time() - started


def _into(table: str, rows: str) -> str:
    return f"CREATE OR REPLACE TEMP TABLE {table} AS {rows}"


def _without(sql: str, distinct: str) -> str:
    """`sql` with its distinct count replaced by a row count: cheaper, not exact."""
    assert distinct in sql, distinct
    return sql.replace(distinct, "count(*)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rollup_floor", description=__doc__)
    add_data_arguments(parser)
    args = parser.parse_args(argv)

    with generated_warehouse(args) as (_, _database, cursor):
        cursor.execute(BARE_GROUP_BY, {"low": 0})  # warm-up: every run reads warm data
        bare = _cpu(cursor, BARE_GROUP_BY, {"low": 0})

        def measure(label: str, sql: str) -> float:
            cpu = _cpu(cursor, sql)
            print(f"  {label:58s} {cpu:7.2f} CPU-s  {cpu / bare:5.2f}x", flush=True)
            return cpu

        print(f"bare GROUP BY (bench.rollups' baseline)                      {bare:7.2f} CPU-s")
        print("aggregations, into temp tables:")
        joined = measure("the three call tables joined into memory", rollups.CALLS)
        hourly = measure(
            "hourly rows, from the joined calls", _into("floor_hourly", rollups.hourly_rows())
        )
        traces = measure(
            "per-trace rows, from the joined calls", _into("floor_traces", rollups.PARTIALS)
        )
        source = f"({rollups.JOINED_CALLS})"
        assert "FROM rollup_calls" in rollups.PARTIALS
        hourly_own = measure(
            "hourly rows, straight from their own join",
            _into("floor_other", rollups.hourly_rows(source)),
        )
        traces_own = measure(
            "per-trace rows, straight from their own join",
            _into("floor_other", rollups.PARTIALS.replace("FROM rollup_calls", f"FROM {source}")),
        )
        cursor.execute("DROP TABLE floor_other")
        daily = measure(
            "days, from the hourly rows", _into("floor_daily", rollups.daily_rows("floor_hourly"))
        )
        sessions = rollups.session_rows("floor_traces")
        users = rollups.user_rows("floor_traces")
        sessions_rough = measure(
            "sessions, from the trace rows, no distinct count",
            _into("floor_sessions", _without(sessions, DISTINCT_TRACES)),
        )
        users_rough = measure(
            "user-days, from the trace rows, no distinct count",
            _into("floor_users", _without(users, DISTINCT_SESSIONS)),
        )
        sessions_exact = measure(
            "sessions, from the trace rows, exact", _into("floor_sessions", sessions)
        )
        users_exact = measure("user-days, from the trace rows, exact", _into("floor_users", users))
        cursor.execute("DROP TABLE rollup_calls")

        print("writing the rows (the rollup tables emptied and committed first):")
        empty_rollups(cursor)
        cursor.execute("DELETE FROM rollup_daily")
        in_memory = sum(
            _cpu(cursor, _into(f"{temp}_copy", f"SELECT * FROM {temp}")) for temp in TABLES.values()
        )
        cursor.begin()
        stored = sum(
            _cpu(cursor, f"INSERT INTO {table} SELECT * FROM {temp}")
            for table, temp in TABLES.items()
        )
        stored += _cpu(cursor, "COMMIT")
        writing = stored - in_memory
        print(
            f"  inserted and committed {stored:.2f} CPU-s, copied in memory {in_memory:.2f}: "
            f"writing {writing:6.2f} CPU-s  {writing / bare:5.2f}x"
        )
        for temp in TABLES.values():
            cursor.execute(f"DROP TABLE {temp}_copy")

        empty_rollups(cursor)
        job_started = time.process_time()
        run_job(cursor, JOBS[rollups.NAME], NOW)
        job = time.process_time() - job_started

    calls_plan = min(joined + hourly + traces, hourly_own + traces_own)
    floor = calls_plan + daily + sessions_rough + users_rough
    designed = calls_plan + daily + sessions_exact + users_exact + writing
    print(
        f"hourly and per-trace rows: joined once {joined + hourly + traces:.2f} CPU-s, each "
        f"from its own join {hourly_own + traces_own:.2f}: the cheaper counts below"
    )
    for label, value in (
        ("floor: in memory, no distinct counts, nothing written", floor),
        ("the same, exact counts and the writes", designed),
        ("the rollups job's full run", job),
    ):
        ratio = value / bare
        print(f"{label:55s} {value:7.2f} CPU-s  {ratio:5.2f}x (target {TARGET_RATIO:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
