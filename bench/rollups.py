"""Rollup benchmark: the rollups job and the cost API on 10M model calls over 30 days.

    .venv/bin/python -m bench.rollups [--calls 10000000] [--days 30] [--requests 200]
                                      [--data-dir DIR [--reuse]] [--memory-limit 6GB]

What it does, in order:
1. Generates (untimed) `--calls` model calls straight into the warehouse with DuckDB SQL:
   ~10 calls per session (1M sessions at 10M calls) in traces of up to 3 calls, sessions
   spread uniformly over `--days`, 40 features, 10 catalog models (1-3 per feature), 50
   tenants, 200k users, two environments, agents on a quarter of the features, cache reads
   after a session's first call, 2% failed calls. `spans` and `model_calls` rows are
   written as the writer and the attribution job write them (in time order, 10k calls per
   ingest batch); `call_costs` is written by the real pricing job (`warehouse.jobs.incremental`).
2. Full rollup: empties the rollup tables and times the rollups job catching up from
   scratch, beside a bare DuckDB GROUP BY of the same calls by hour and the six hourly
   dimensions (joined from the same three tables, written to a table) in the same run.
3. One-hour incremental updates: three times, generates one more hour of calls
   (calls / (24 x days), new sessions), prices them (untimed), and times the rollups job's
   run over them, beside a bare GROUP BY of those calls. The first runs right after the full
   rollup, with cold caches; the figure held to the target is the median of the other two,
   the state of a service whose job runs every second (both are printed).
4. `GET /api/v1/costs?group_by=feature&grain=day` over the 30 days through the app built by
   `create_app`, in-process (Starlette's TestClient: real routing, validation, JSON):
   p50/p95 over `--requests` requests after 10 warm-up ones.

Targets: full rollup within 3x the bare group-by; incremental hour under 1 s; the costs
API under 100 ms at p95. The process prints each figure beside its target and exits 1 if
one is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from fastapi.testclient import TestClient

from collector.service import create_app
from collector.settings import Settings
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.pricing import job as pricing
from warehouse.rollups import job as rollups
from warehouse.spans import attribution
from warehouse.spans.insert import last_batch_id
from warehouse.store.database import Database

START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
CALLS_PER_SESSION = 10
CALLS_PER_BATCH = 10_000
MODELS = (
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4.1"),
    ("openai", "gpt-4.1-mini"),
    ("openai", "gpt-4.1-nano"),
    ("openai", "o3-mini"),
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("anthropic", "claude-sonnet-4-20250514"),
    ("google", "gemini-2.0-flash"),
    ("mistral", "mistral-large-latest"),
)
ROLLUP_TABLES = ("rollup_hourly", "rollup_sessions", "rollup_traces", "rollup_users")
HOURS = 3  # incremental hours timed; the first follows the full rollup (cold caches)
TARGET_FULL_RATIO = 3.0
TARGET_INCREMENTAL_S = 1.0
TARGET_API_P95_MS = 100.0

# One row per generated call: `$calls` calls of `$calls / 10` sessions numbered from
# `$session0`, each session starting uniformly in [$t0, $t0 + $seconds).
GENERATE = f"""
CREATE OR REPLACE TEMP TABLE gen AS
WITH calls AS (
    SELECT i, $session0 + i // {CALLS_PER_SESSION} AS session_no,
           i % {CALLS_PER_SESSION} AS k, hash($session0 + i // {CALLS_PER_SESSION}) AS h,
           hash(i + $session0 * {CALLS_PER_SESSION}) AS r
    FROM range($calls) t(i)
),
shaped AS (
    SELECT *, (h >> 8) % 40 AS feature_no,
           ((h >> 8) % 40 + CASE WHEN (h >> 16) % 4 = 0 THEN 1 ELSE 0 END
                + CASE WHEN k % 5 = 4 THEN 2 ELSE 0 END) % 10 AS model_no,
           200 + r % 4000 AS input_tokens
    FROM calls
)
SELECT
    session_no * 4 + k // 3 AS trace_no,
    $session0 * {CALLS_PER_SESSION} + i + 1 AS span_no,
    $t0 + to_microseconds((h % ($seconds::BIGINT * 1000000))::BIGINT) + to_seconds(k * 40)
        AS start_time,
    'feature-' || lpad(feature_no::VARCHAR, 2, '0') AS feature,
    'session-' || session_no AS session_id,
    'user-' || (h >> 24) % 200000 AS user_id,
    'tenant-' || lpad(((h >> 44) % 50)::VARCHAR, 2, '0') AS tenant_id,
    CASE WHEN (h >> 52) % 10 = 0 THEN 'staging' ELSE 'prod' END AS environment,
    CASE WHEN feature_no % 4 = 0 THEN 'agent-' || k % 3 END AS agent_name,
    model_no,
    CASE WHEN r % 50 = 0 THEN 2 ELSE 1 END AS status_code,
    input_tokens,
    CASE WHEN k > 0 THEN input_tokens // 2 ELSE 0 END AS cache_read_tokens,
    20 + (r >> 12) % 800 AS output_tokens
FROM shaped
"""

INSERT_SPANS = """
INSERT INTO spans (
    trace_id, span_id, batch_id, received_at, start_time, end_time, duration_ms, name, kind,
    status_code, service, scope_name, is_model_call, is_usage_rollup, provider, operation,
    request_model, response_model, input_tokens, output_tokens, cache_read_tokens,
    cache_write_tokens, reasoning_tokens, feature, session_id, user_id, tenant_id,
    environment, agent_name
)
SELECT unhex(printf('%032x', trace_no)), unhex(printf('%016x', span_no)),
       $batch0 + (row_number() OVER (ORDER BY start_time, span_no) - 1) // $per_batch,
       start_time + INTERVAL 2 SECOND, start_time, start_time + INTERVAL 1 SECOND, 1000.0,
       'chat ' || m.model, 3, status_code, 'bench', 'bench', true, false, m.provider, 'chat',
       m.model, m.model, input_tokens, output_tokens, cache_read_tokens, 0, 0,
       feature, session_id, user_id, tenant_id, environment, agent_name
FROM gen JOIN models m USING (model_no)
ORDER BY start_time, span_no
"""

# What the attribution job writes for a call whose dimensions are its own.
INSERT_MODEL_CALLS = """
INSERT INTO model_calls
SELECT trace_id, span_id, start_time, feature, session_id, user_id, tenant_id, environment,
       agent_name, batch_id
FROM spans WHERE batch_id >= $batch0 ORDER BY batch_id
"""

# The bare aggregation the hourly rollup is compared with: the same calls, joined from the
# same tables, grouped by hour and the six dimensions, written to a table.
BARE_GROUP_BY = """
CREATE OR REPLACE TEMP TABLE bare AS
SELECT date_trunc('hour', c.start_time) AS hour, m.feature, c.provider, c.model,
       m.tenant_id, m.environment, m.agent_name,
       count(*) AS calls, count(*) FILTER (WHERE NOT c.priced) AS unpriced_calls,
       count(*) FILTER (WHERE s.status_code = 2) AS error_calls,
       sum(s.input_tokens), sum(s.output_tokens), sum(s.cache_read_tokens),
       sum(s.cache_write_tokens), sum(s.reasoning_tokens), sum(c.cost_usd) AS cost_usd
FROM call_costs c JOIN model_calls m USING (trace_id, span_id)
JOIN spans s USING (trace_id, span_id)
WHERE c.priced_seq > $low
GROUP BY ALL
"""


def _timed(action: Callable[..., Any], *args: Any) -> float:
    return _timed_cpu(action, *args)[0]


def _timed_cpu(action: Callable[..., Any], *args: Any) -> tuple[float, float]:
    """Wall-clock and process CPU seconds (DuckDB's threads included) of one call."""
    started, cpu_started = time.perf_counter(), time.process_time()
    action(*args)
    return time.perf_counter() - started, time.process_time() - cpu_started


def _count(cursor: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> int:
    row = cursor.execute(sql, params).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def generate(
    cursor: duckdb.DuckDBPyConnection,
    calls: int,
    start: dt.datetime,
    seconds: int,
) -> int:
    """Adds `calls` calls of new sessions starting in [start, start + seconds), as ingest
    batches after the last one, attributed; returns the first new batch id."""
    session0 = _count(cursor, "SELECT count(DISTINCT session_id) FROM model_calls")
    batch0 = last_batch_id(cursor) + 1
    cursor.execute(
        "CREATE OR REPLACE TEMP TABLE models AS "
        "SELECT * FROM (VALUES "
        + ", ".join(f"({n}, $p{n}, $m{n})" for n in range(len(MODELS)))
        + ") v (model_no, provider, model)",
        {f"p{n}": p for n, (p, _) in enumerate(MODELS)}
        | {f"m{n}": m for n, (_, m) in enumerate(MODELS)},
    )
    cursor.execute(
        GENERATE,
        {
            "calls": calls,
            "session0": session0,
            "t0": start.replace(tzinfo=None),
            "seconds": seconds,
        },
    )
    cursor.begin()
    cursor.execute(INSERT_SPANS, {"batch0": batch0, "per_batch": CALLS_PER_BATCH})
    cursor.execute(INSERT_MODEL_CALLS, {"batch0": batch0})
    # The attribution job's watermark: these batches are attributed (their own dimensions).
    cursor.execute(
        "INSERT OR REPLACE INTO job_state VALUES ($name, $high, $now, 0, 0, 1, NULL)",
        {"name": attribution.NAME, "high": last_batch_id(cursor), "now": NOW.replace(tzinfo=None)},
    )
    cursor.commit()
    cursor.execute("DROP TABLE gen")
    return batch0


def _priced_seq(cursor: duckdb.DuckDBPyConnection) -> int:
    return rollups.latest_priced_seq(cursor)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The options naming the generated data: shared with bench.rollup_floor."""
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--data-dir", type=Path, help="Keep the warehouse here (else a temp dir).")
    parser.add_argument("--reuse", action="store_true", help="Reuse the data in --data-dir.")
    parser.add_argument("--memory-limit", default="6GB", help="DuckDB memory_limit.")


@contextmanager
def generated_warehouse(
    args: argparse.Namespace,
) -> Iterator[tuple[Path, Database, duckdb.DuckDBPyConnection]]:
    """The warehouse in `args.data_dir` (else a temp dir, removed afterwards) holding
    `args.calls` priced calls over `args.days`: generated and priced (untimed) unless
    `--reuse` finds data there."""
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-rollups-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    database = Database.open(data_dir / "spendscope.duckdb")
    cursor = database.cursor()
    try:
        cursor.execute(f"SET memory_limit = '{args.memory_limit}'")
        print(f"warehouse: {data_dir}  (DuckDB {duckdb.__version__}, {args.memory_limit})")
        existing = _count(cursor, "SELECT count(*) FROM model_calls")
        if not (args.reuse and existing):
            if existing:
                raise SystemExit(f"{data_dir} holds data: use --reuse, or another directory")
            seconds = args.days * 86_400
            took = _timed(lambda: generate(cursor, args.calls, START, seconds - 3600))
            print(f"generated {args.calls:,} calls in {took:.1f} s (untimed)")
            took = _timed(lambda: run_job(cursor, JOBS[pricing.NAME], NOW))
            print(f"pricing job over them: {took:.1f} s (untimed)")
        yield data_dir, database, cursor
    finally:
        cursor.close()
        database.close()
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)


def empty_rollups(cursor: duckdb.DuckDBPyConnection) -> None:
    """As before the first run of the rollups job: no rollup rows, no watermark."""
    cursor.begin()
    for table in ROLLUP_TABLES:
        cursor.execute(f"DELETE FROM {table}")
    cursor.execute("DELETE FROM job_state WHERE name = ?", [rollups.NAME])
    cursor.commit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_arguments(parser)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)

    seconds = args.days * 86_400
    with generated_warehouse(args) as (data_dir, database, cursor):
        calls = _count(cursor, "SELECT count(*) FROM call_costs")
        sessions = _count(cursor, "SELECT count(DISTINCT session_id) FROM model_calls")
        print(f"calls: {calls:,}  sessions: {sessions:,}  over {args.days} days")

        # 2. Full rollup beside the bare group-by.
        cursor.execute(BARE_GROUP_BY, {"low": 0})  # warm-up: both runs read warm data
        bare_full, bare_full_cpu = _timed_cpu(lambda: cursor.execute(BARE_GROUP_BY, {"low": 0}))
        groups = _count(cursor, "SELECT count(*) FROM bare")
        empty_rollups(cursor)
        full, full_cpu = _timed_cpu(lambda: run_job(cursor, JOBS[rollups.NAME], NOW))
        hourly = _count(cursor, "SELECT count(*) FROM rollup_hourly")
        assert hourly == groups, (hourly, groups)
        assert _count(cursor, "SELECT sum(calls) FROM rollup_hourly") == calls

        # 3. More hours of calls, one at a time, incrementally.
        hour_calls = max(args.calls // (24 * args.days), CALLS_PER_SESSION)
        incremental, bare_hour = [], []
        for hour in range(HOURS):
            before = _priced_seq(cursor)
            at = START + dt.timedelta(seconds=seconds + 3600 * hour)
            generate(cursor, hour_calls, at, 3600 - 360)
            run_job(cursor, JOBS[pricing.NAME], NOW)
            incremental.append(_timed(run_job, cursor, JOBS[rollups.NAME], NOW))
            bare_hour.append(_timed(cursor.execute, BARE_GROUP_BY, {"low": before}))
        added = hour_calls * HOURS
        assert _count(cursor, "SELECT sum(calls) FROM rollup_hourly") == calls + added

        # 4. The costs API, feature x day over the whole window.
        settings = Settings(data_dir=data_dir, grpc_port=0)
        client = TestClient(create_app(settings, database))
        params = {
            "group_by": "feature",
            "grain": "day",
            "start": START.isoformat(),
            "end": (START + dt.timedelta(days=args.days)).isoformat(),
        }
        latencies = []
        for n in range(10 + args.requests):
            started = time.perf_counter()
            response = client.get("/api/v1/costs", params=params)
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.text
            if n >= 10:
                latencies.append(elapsed * 1000)
        rows = len(response.json()["rows"])

    p50, p95 = statistics.median(latencies), _percentile(latencies, 0.95)
    ratio, cpu_ratio = full / bare_full, full_cpu / bare_full_cpu
    warm, warm_bare = statistics.median(incremental[1:]), statistics.median(bare_hour[1:])
    results = [
        (
            f"full rollup        {full:7.2f} s (CPU {full_cpu:7.2f} s)   bare GROUP BY "
            f"{bare_full:6.2f} s (CPU {bare_full_cpu:6.2f} s) ({groups:,} hourly groups)   "
            f"ratio {ratio:4.2f}x wall, {cpu_ratio:4.2f}x CPU",
            f"<= {TARGET_FULL_RATIO:.0f}x CPU",
            cpu_ratio <= TARGET_FULL_RATIO,
        ),
        (
            f"incremental hour   {warm:7.3f} s   bare GROUP BY {warm_bare:6.3f} s "
            f"({hour_calls:,} calls; median of hours 2-{HOURS}; the first, right after the "
            f"full rollup: {incremental[0]:.3f} s, bare {bare_hour[0]:.3f} s)   "
            f"ratio {warm / warm_bare:4.1f}x",
            f"< {TARGET_INCREMENTAL_S:.0f} s",
            warm < TARGET_INCREMENTAL_S,
        ),
        (
            f"GET /api/v1/costs?group_by=feature&grain=day ({rows} rows)   "
            f"p50 {p50:5.1f} ms   p95 {p95:5.1f} ms",
            f"p95 < {TARGET_API_P95_MS:.0f} ms",
            p95 < TARGET_API_P95_MS,
        ),
    ]
    for line, target, met in results:
        print(f"{line}   target {target}: {'met' if met else 'MISSED'}")
    return 0 if all(met for _, _, met in results) else 1


if __name__ == "__main__":
    sys.exit(main())
