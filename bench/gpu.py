"""GPU benchmark: the efficiency and allocation jobs on 30 days of per-10-second metrics for
64 GPUs, and the model calls they served.

    .venv/bin/python -m bench.gpu [--days 30] [--gpus 64] [--gpus-per-deployment 8]
                                  [--calls-per-hour 200] [--memory-limit 6GB]

What it does, in order:
1. Generates (untimed), with DuckDB SQL straight into `metric_points` as the metric writer
   stores them (one metric batch per day): DCGM GR_ENGINE_ACTIVE for every GPU every 10 s
   (busy by day, idle at night, one saturated hour a day; the last deployment's GPUs are
   scaled down from 00:00 to 06:00, a gap), and each deployment's vLLM prompt and
   generation counters every 10 s (cumulative, one restart a day). Then `--calls-per-hour`
   model calls per deployment and hour into `spans` and `model_calls`, as the writer and the
   attribution job write them, each naming its vLLM server in `server.address`. One GPU
   price covers all GPUs.
2. Times the `gpu_efficiency` job catching up from nothing, beside a bare DuckDB GROUP BY
   of the same metric rows (per GPU and hour: count, sum of value; per deployment and
   hour: the counters' max - min), in the same run.
3. Times the `gpu_allocation` job allocating every hour from nothing, beside a bare GROUP BY
   of the same calls (spans joined with model_calls, by hour and server address).
4. One more hour of metrics and calls, then the efficiency and allocation jobs' incremental
   runs over it.

It prints each figure and the ratio to its bare scan. No targets are held: the issue asks for
the figures next to each other.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from warehouse.gpu import allocation as gpu_allocation
from warehouse.gpu import config as gpu_config
from warehouse.gpu import efficiency as gpu_efficiency
from warehouse.gpu import prices as gpu_prices
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.spans import attribution
from warehouse.store.database import Database

START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
STEP_S = 10

# GPU g of deployment g // per, every STEP_S seconds in [$t0, $t0 + $seconds).
GPU_POINTS = """
INSERT INTO metric_points
SELECT g AS stream_id, epoch_ns(t) AS time_unix_nano, t AS time, NULL AS start_time,
       'DCGM_FI_PROF_GR_ENGINE_ACTIVE', 'gpu_engine_active', 'gauge', false,
       CASE WHEN hour(t) = 14 THEN 1.0
            WHEN hour(t) < 6 THEN 0.02
            ELSE 0.4 + (hash(g, t) % 50) / 100.0 END AS value,
       NULL, 'd' || (g // $per), 'GPU-' || g, 'NVIDIA H100 80GB HBM3', 'pool-a', NULL, NULL,
       NULL, '{}', $batch0 + datediff('day', $start, t), $now
FROM range(0, $gpus) gpus (g),
     range($t0, $t0 + to_seconds($seconds), to_seconds($step)) times (t)
WHERE NOT (g // $per = $deployments - 1 AND hour(t) < 6)
ORDER BY t, g
"""

# Per deployment d: prompt (stream 1000 + d) and generation (2000 + d) counters.
COUNTER_POINTS = """
INSERT INTO metric_points
WITH ticks AS (
    SELECT d, t, s.kind,
           CASE WHEN hour(t) < 6 THEN 5 ELSE 400 + hash(d, t) % 400 END
               // (CASE WHEN s.kind = 'prompt' THEN 1 ELSE 3 END) AS increment,
           t::DATE + INTERVAL 12 HOUR AS restart
    FROM range(0, $deployments) ds (d),
         range($t0, $t0 + to_seconds($seconds), to_seconds($step)) times (t),
         (VALUES ('prompt'), ('generation')) s (kind)
)
SELECT (CASE WHEN kind = 'prompt' THEN 1000 ELSE 2000 END) + d,
       epoch_ns(t), t,
       CASE WHEN t >= restart THEN restart ELSE restart - INTERVAL 1 DAY END,
       'vllm:' || kind || '_tokens_total', 'vllm_' || kind || '_tokens', 'sum', true,
       sum(increment) OVER (
           PARTITION BY d, kind, CASE WHEN t >= restart THEN restart
                                      ELSE restart - INTERVAL 1 DAY END
           ORDER BY t
       )::DOUBLE,
       NULL, 'd' || d, NULL, NULL, NULL, 'llama-' || d, 'vllm-d' || d || '.internal', NULL,
       '{}', $batch0 + datediff('day', $start, t), $now
FROM ticks
ORDER BY t
"""

CALLS = """
CREATE OR REPLACE TEMP TABLE gen AS
SELECT n, $t0 + to_microseconds((hash(n) % ($seconds::BIGINT * 1000000))::BIGINT) AS start_time,
       n % $deployments AS d
FROM range($n0, $n0 + $calls) r (n)
"""

INSERT_SPANS = """
INSERT INTO spans (trace_id, span_id, batch_id, received_at, start_time, end_time,
                   duration_ms, name, kind, status_code, service, is_model_call,
                   is_usage_rollup, provider, operation, request_model, input_tokens,
                   output_tokens, feature, tenant_id, attributes)
SELECT to_binary(lpad(n::VARCHAR, 16, '0')), to_binary(lpad(n::VARCHAR, 8, '0')),
       $batch, $now, start_time, start_time + INTERVAL 2 SECOND, 2000.0, 'chat', 3, 0,
       'app', true, false, 'openai', 'chat', 'llama-' || d, 200 + n % 800, 50 + n % 300,
       'feature-' || (n % 20), 'tenant-' || (n % 50),
       '{"server.address": "vllm-d' || d || '.internal"}'
FROM gen ORDER BY start_time
"""

INSERT_MODEL_CALLS = """
INSERT INTO model_calls
SELECT to_binary(lpad(n::VARCHAR, 16, '0')), to_binary(lpad(n::VARCHAR, 8, '0')), start_time,
       'feature-' || (n % 20), NULL, NULL, 'tenant-' || (n % 50), NULL, NULL, $batch
FROM gen ORDER BY start_time
"""

BARE_METRICS = """
CREATE OR REPLACE TEMP TABLE bare AS
SELECT date_trunc('hour', time) AS hour, deployment, gpu_id, signal, count(*) AS points,
       sum(value) AS total, max(value) - min(value) AS spread
FROM metric_points
GROUP BY ALL
"""

BARE_CALLS = """
CREATE OR REPLACE TEMP TABLE bare AS
SELECT date_trunc('hour', m.start_time) AS hour,
       json_extract_string(s.attributes, '$."server.address"') AS address,
       count(*) AS calls, sum(s.input_tokens + s.output_tokens) AS tokens
FROM model_calls m JOIN spans s USING (trace_id, span_id)
GROUP BY ALL
"""


def _timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _count(cursor: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = cursor.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _metrics(
    cursor: duckdb.DuckDBPyConnection, args: argparse.Namespace, t0: dt.datetime, seconds: int
) -> None:
    deployments = args.gpus // args.gpus_per_deployment
    params = {
        "t0": t0.replace(tzinfo=None),
        "seconds": seconds,
        "step": STEP_S,
        "start": START.replace(tzinfo=None),
        "now": NOW.replace(tzinfo=None),
        "deployments": deployments,
        "batch0": _count(cursor, "SELECT coalesce(max(batch_id), 0) FROM metric_points") + 1,
    }
    cursor.execute(GPU_POINTS, params | {"gpus": args.gpus, "per": args.gpus_per_deployment})
    cursor.execute(COUNTER_POINTS, params)


def _calls(
    cursor: duckdb.DuckDBPyConnection, args: argparse.Namespace, t0: dt.datetime, seconds: int
) -> None:
    deployments = args.gpus // args.gpus_per_deployment
    calls = args.calls_per_hour * deployments * seconds // 3600
    n0 = _count(cursor, "SELECT count(*) FROM model_calls")
    batch = _count(cursor, "SELECT coalesce(max(batch_id), 0) FROM spans") + 1
    cursor.execute(
        CALLS,
        {
            "t0": t0.replace(tzinfo=None),
            "seconds": seconds,
            "deployments": deployments,
            "n0": n0,
            "calls": calls,
        },
    )
    cursor.execute(INSERT_SPANS, {"batch": batch, "now": NOW.replace(tzinfo=None)})
    cursor.execute(INSERT_MODEL_CALLS, {"batch": batch})
    cursor.execute(
        "INSERT OR REPLACE INTO job_state VALUES ($name, $high, $now, 0, 0, 1, NULL)",
        {"name": attribution.NAME, "high": batch, "now": NOW.replace(tzinfo=None)},
    )
    cursor.execute("DROP TABLE gen")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--gpus", type=int, default=64)
    parser.add_argument("--gpus-per-deployment", type=int, default=8)
    parser.add_argument("--calls-per-hour", type=int, default=200, help="Per deployment.")
    parser.add_argument("--memory-limit", default="6GB", help="DuckDB memory_limit.")
    args = parser.parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    database = Database.open(directory / "spendscope.duckdb")
    cursor = database.cursor()
    cursor.execute(f"SET memory_limit = '{args.memory_limit}'")
    try:
        seconds = args.days * 86_400
        print(f"generating {args.days} days x {args.gpus} GPUs every {STEP_S} s ...", flush=True)
        generation = _timed(lambda: _metrics(cursor, args, START, seconds))
        generation += _timed(lambda: _calls(cursor, args, START, seconds))
        gpu_config.store_config(cursor, gpu_config.GpuConfig(match=("server_address",)))
        gpu_prices.add_gpu_price(
            cursor,
            gpu_prices.GpuPrice("gpu_model", "NVIDIA H100*", "on_demand", Decimal("3.9")),
            "file",
            NOW,
        )
        points = _count(cursor, "SELECT count(*) FROM metric_points")
        calls = _count(cursor, "SELECT count(*) FROM model_calls")
        print(f"  {points:,} metric points, {calls:,} model calls ({generation:.0f} s, untimed)")

        cursor.execute(BARE_METRICS)  # warm-up: both read the same rows from a warm cache
        bare_metrics = _timed(lambda: cursor.execute(BARE_METRICS))
        efficiency = _timed(lambda: run_job(cursor, JOBS[gpu_efficiency.NAME], NOW))
        hours = _count(cursor, "SELECT count(*) FROM gpu_hourly")
        cursor.execute(BARE_CALLS)
        bare_calls = _timed(lambda: cursor.execute(BARE_CALLS))
        allocation = _timed(lambda: run_job(cursor, JOBS[gpu_allocation.NAME], NOW))
        allocated = _count(cursor, "SELECT count(*) FROM gpu_call_costs")

        end = START + dt.timedelta(seconds=seconds)
        _metrics(cursor, args, end, 3600)
        _calls(cursor, args, end, 3600)
        incremental_efficiency = _timed(lambda: run_job(cursor, JOBS[gpu_efficiency.NAME], NOW))
        incremental_allocation = _timed(lambda: run_job(cursor, JOBS[gpu_allocation.NAME], NOW))

        print(f"gpu_efficiency, full:   {efficiency:8.2f} s  ({hours:,} GPU-hours)")
        print(
            f"  bare GROUP BY of the {points:,} points: {bare_metrics:6.2f} s "
            f"-> {efficiency / bare_metrics:.1f}x"
        )
        print(f"gpu_allocation, full:   {allocation:8.2f} s  ({allocated:,} calls allocated)")
        print(
            f"  bare GROUP BY of the {calls:,} calls: {bare_calls:6.2f} s "
            f"-> {allocation / bare_calls:.1f}x"
        )
        print(f"one more hour: gpu_efficiency {incremental_efficiency:.3f} s, ", end="")
        print(f"gpu_allocation {incremental_allocation:.3f} s")
    finally:
        cursor.close()
        database.close()
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
