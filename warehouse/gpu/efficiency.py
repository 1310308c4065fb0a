"""The GPU efficiency job: per hour, per deployment and GPU, what the GPUs cost and did.

Incremental on metric batches (`metric_points.batch_id`). A run takes the points of the
batches after its watermark, finds the hours they touch (and the hour before, whose last
sample's coverage a new point can change) and recomputes those hours whole, in DuckDB SQL,
into `gpu_hourly` (per GPU) and `gpu_deployment_hourly` (per deployment). The hours are
then queued in `gpu_dirty_hours` for the allocation job (`warehouse.gpu.allocation`).
When the GPU price book or the GPU settings change, every hour is recomputed.

The rules (docs/gpu.md, with a worked example):

- GPU time. A utilization sample stands for the time until the GPU's next sample; when the
  next is more than the maximum gap away (or there is none), for the time since the previous
  one, again at most the maximum gap; a lone sample stands for nothing. So a GPU is billed
  for the time its metrics cover, a few missed scrapes are bridged, and a GPU that is gone
  (scaled down at night) costs nothing. A sample counts in the hour it was taken.
- Utilization. `gpu_engine_active` (DCGM's GR_ENGINE_ACTIVE) when the GPU has it in that
  hour, else `gpu_utilization` (DCGM's GPU_UTIL / 100, `hw.gpu.utilization`): busy time is
  the sum of value x covered time, idle time the rest.
- Cost. The GPU-hour price in effect at the start of the hour (`warehouse.gpu.prices`):
  cost = GPU time x price, idle cost = cost x idle share, in integer nano-dollars (rounded
  half up once per GPU-hour). A GPU-hour without a price is unpriced, never $0.
- Tokens. vLLM's prompt and generation counters: per stream, the increase between
  consecutive points; a lower value or a new start time is a reset (the new value is the
  increase since it); the first point of a stream is its baseline, unless its start time is
  within the maximum gap before it (a counter that just started). A point's increase counts
  in its hour, so the tokens of a gap land in the hour after it. Delta sums are added as
  they are. A previous point more than a day back is not looked for (the point is a
  baseline).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from warehouse.gpu import config as gpu_config
from warehouse.gpu import prices as gpu_prices
from warehouse.gpu.metric_points import last_metric_batch

NAME = "gpu_efficiency"
COUNTER_LOOKBACK = dt.timedelta(days=1)
_FINGERPRINT = "efficiency_fingerprint"

# The hours to recompute are in the temp table `gpu_affected (hour)`; $lo/$hi bound them.
# The window sorts only (stream, time, value): a stream's dimensions are the same on all its
# points (its id hashes them), so they are joined per stream afterwards. Sorting the
# dimension strings along made this step 4-5x slower.
UTILIZATION_SAMPLES = """
CREATE OR REPLACE TEMP TABLE gpu_samples AS
WITH s AS (
    SELECT stream_id, time, value,
           epoch_ms(lead(time) OVER w) - epoch_ms(time) AS next_gap,
           epoch_ms(time) - epoch_ms(lag(time) OVER w) AS prev_gap
    FROM metric_points
    WHERE signal IN ('gpu_engine_active', 'gpu_utilization') AND gpu_id IS NOT NULL
      AND time >= $lo - to_milliseconds($gap) AND time < $hi + to_milliseconds($gap)
    WINDOW w AS (PARTITION BY stream_id ORDER BY time)
), covered AS (
    SELECT stream_id, date_trunc('hour', time) AS hour, value,
           CASE WHEN next_gap <= $gap THEN next_gap WHEN prev_gap <= $gap THEN prev_gap
                ELSE 0 END AS covered_ms
    FROM s
    WHERE time >= $lo AND time < $hi
)
SELECT stream_id, hour, sum(covered_ms) AS covered_ms,
       sum(covered_ms * least(greatest(value, 0), 1)) AS busy_ms
FROM covered
WHERE hour IN (SELECT hour FROM gpu_affected)
GROUP BY stream_id, hour
"""

GPU_HOURS = """
CREATE OR REPLACE TEMP TABLE gpu_hours AS
WITH streams AS (
    SELECT stream_id, any_value(deployment) AS deployment, any_value(gpu_id) AS gpu_id,
           any_value(gpu_model) AS gpu_model, any_value(node_pool) AS node_pool,
           any_value(signal) AS signal
    FROM metric_points
    WHERE signal IN ('gpu_engine_active', 'gpu_utilization') AND gpu_id IS NOT NULL
      AND time >= $lo AND time < $hi
    GROUP BY stream_id
)
SELECT hour, deployment, gpu_id, any_value(gpu_model) AS gpu_model,
       any_value(node_pool) AS node_pool, signal AS utilization_source,
       sum(covered_ms)::BIGINT AS gpu_ms, round(sum(busy_ms))::BIGINT AS busy_ms
FROM gpu_samples JOIN streams USING (stream_id)
GROUP BY hour, deployment, gpu_id, signal
QUALIFY row_number() OVER (
    PARTITION BY hour, deployment, gpu_id ORDER BY signal = 'gpu_engine_active' DESC
) = 1
"""

INSERT_GPU_HOURLY = f"""
INSERT INTO gpu_hourly
WITH prices AS ({gpu_prices.PRICE_OF_GPU_HOUR}),
costed AS (
    SELECT h.*, p.price_id, p.usd_per_gpu_hour,
           (h.gpu_ms::HUGEINT * (p.usd_per_gpu_hour * 1000000000)::HUGEINT + 1800000)
               // 3600000 AS cost_nanos
    FROM gpu_hours h
    LEFT JOIN prices p
        ON p.hour = h.hour AND p.deployment IS NOT DISTINCT FROM h.deployment
        AND p.node_pool IS NOT DISTINCT FROM h.node_pool
        AND p.gpu_model IS NOT DISTINCT FROM h.gpu_model
)
SELECT hour, deployment, gpu_id, gpu_model, node_pool, utilization_source, gpu_ms, busy_ms,
       price_id, usd_per_gpu_hour, cost_nanos::BIGINT,
       CASE WHEN gpu_ms = 0 THEN 0
            ELSE (cost_nanos * (gpu_ms - busy_ms) + gpu_ms // 2) // gpu_ms END::BIGINT
FROM costed
"""

TOKENS = """
CREATE OR REPLACE TEMP TABLE gpu_tokens AS
WITH c AS (
    SELECT deployment, signal, time, value, cumulative, start_time,
           lag(value) OVER w AS prev_value, lag(start_time) OVER w AS prev_start
    FROM metric_points
    WHERE signal IN ('vllm_prompt_tokens', 'vllm_generation_tokens')
      AND time >= $lo - $lookback AND time < $hi
    WINDOW w AS (PARTITION BY stream_id ORDER BY time)
), d AS (
    SELECT date_trunc('hour', time) AS hour, deployment, signal,
           CASE WHEN NOT cumulative THEN value
                WHEN prev_value IS NULL THEN
                    CASE WHEN start_time IS NOT NULL
                          AND epoch_ms(time) - epoch_ms(start_time) <= $gap
                         THEN value ELSE 0 END
                WHEN value < prev_value OR start_time > prev_start THEN value
                ELSE value - prev_value END AS increase
    FROM c
    WHERE time >= $lo
)
SELECT hour, deployment,
       round(sum(increase) FILTER (WHERE signal = 'vllm_prompt_tokens'))::BIGINT AS prompt,
       round(sum(increase) FILTER (WHERE signal = 'vllm_generation_tokens'))::BIGINT
           AS generation
FROM d
WHERE hour IN (SELECT hour FROM gpu_affected)
GROUP BY ALL
"""

SERVING = """
CREATE OR REPLACE TEMP TABLE gpu_serving AS
SELECT date_trunc('hour', time) AS hour, deployment,
       sum(value) FILTER (WHERE signal = 'vllm_requests_running')
           / nullif(count(DISTINCT time) FILTER (WHERE signal = 'vllm_requests_running'), 0)
           AS running,
       sum(value) FILTER (WHERE signal = 'vllm_requests_waiting')
           / nullif(count(DISTINCT time) FILTER (WHERE signal = 'vllm_requests_waiting'), 0)
           AS waiting,
       avg(value) FILTER (WHERE signal = 'vllm_kv_cache_usage') AS kv_cache
FROM metric_points
WHERE signal IN ('vllm_requests_running', 'vllm_requests_waiting', 'vllm_kv_cache_usage')
  AND time >= $lo AND time < $hi
  AND date_trunc('hour', time) IN (SELECT hour FROM gpu_affected)
GROUP BY ALL
"""

INSERT_DEPLOYMENT_HOURLY = """
INSERT INTO gpu_deployment_hourly
WITH g AS (
    SELECT hour, deployment, count(DISTINCT gpu_id) AS gpus, sum(gpu_ms) AS gpu_ms,
           sum(busy_ms) AS busy_ms,
           coalesce(sum(gpu_ms) FILTER (WHERE price_id IS NULL), 0) AS unpriced_gpu_ms,
           coalesce(sum(cost_nanos), 0) AS cost_nanos,
           coalesce(sum(idle_cost_nanos), 0) AS idle_cost_nanos
    FROM gpu_hourly
    WHERE hour >= $lo AND hour < $hi AND hour IN (SELECT hour FROM gpu_affected)
    GROUP BY hour, deployment
), keys AS (
    SELECT hour, deployment FROM g
    UNION SELECT hour, deployment FROM gpu_tokens
    UNION SELECT hour, deployment FROM gpu_serving
)
SELECT k.hour, k.deployment, coalesce(g.gpus, 0), coalesce(g.gpu_ms, 0),
       coalesce(g.busy_ms, 0), coalesce(g.unpriced_gpu_ms, 0), coalesce(g.cost_nanos, 0),
       coalesce(g.idle_cost_nanos, 0), coalesce(t.prompt, 0), coalesce(t.generation, 0),
       s.running, s.waiting, s.kv_cache
FROM keys k
LEFT JOIN g ON g.hour = k.hour AND g.deployment IS NOT DISTINCT FROM k.deployment
LEFT JOIN gpu_tokens t ON t.hour = k.hour AND t.deployment IS NOT DISTINCT FROM k.deployment
LEFT JOIN gpu_serving s ON s.hour = k.hour AND s.deployment IS NOT DISTINCT FROM k.deployment
"""

INSERT_ENDPOINTS = """
INSERT INTO gpu_endpoints
SELECT DISTINCT date_trunc('hour', time), deployment, kind, value
FROM (
    SELECT time, deployment, 'model' AS kind, served_model AS value FROM metric_points
    WHERE signal LIKE 'vllm_%' AND time >= $lo AND time < $hi
    UNION ALL
    SELECT time, deployment, 'address', server_address FROM metric_points
    WHERE signal LIKE 'vllm_%' AND time >= $lo AND time < $hi
)
WHERE deployment IS NOT NULL AND value IS NOT NULL
  AND date_trunc('hour', time) IN (SELECT hour FROM gpu_affected)
"""

TEMP_TABLES = ("gpu_affected", "gpu_samples", "gpu_hours", "gpu_tokens", "gpu_serving")


def _bounds(cursor: duckdb.DuckDBPyConnection) -> tuple[Any, Any]:
    row = cursor.execute(
        "SELECT min(hour), max(hour) + INTERVAL 1 HOUR FROM gpu_affected"
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def recompute(cursor: duckdb.DuckDBPyConnection, config: gpu_config.GpuConfig) -> int:
    """Recompute the hours in the temp table `gpu_affected`; returns GPU-hour rows written.
    The caller owns the transaction."""
    lo, hi = _bounds(cursor)
    if lo is None:
        return 0
    gap = config.max_gap_ms
    window = {"lo": lo, "hi": hi}
    for table in ("gpu_hourly", "gpu_deployment_hourly", "gpu_endpoints"):
        cursor.execute(
            f"DELETE FROM {table} WHERE hour >= $lo AND hour < $hi "
            "AND hour IN (SELECT hour FROM gpu_affected)",
            window,
        )
    cursor.execute(UTILIZATION_SAMPLES, window | {"gap": gap})
    cursor.execute(GPU_HOURS, window)
    row = cursor.execute(INSERT_GPU_HOURLY).fetchone()
    written = int(row[0]) if row else 0
    cursor.execute(TOKENS, window | {"gap": gap, "lookback": COUNTER_LOOKBACK})
    cursor.execute(SERVING, window)
    cursor.execute(INSERT_DEPLOYMENT_HOURLY, window)
    cursor.execute(INSERT_ENDPOINTS, window)
    cursor.execute("INSERT INTO gpu_dirty_hours SELECT hour FROM gpu_affected")
    for table in TEMP_TABLES:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
    return written


def refresh(cursor: duckdb.DuckDBPyConnection, low: int, high: int) -> int:
    """Recompute the hours the points of metric batches (low, high] fall in."""
    if high <= low:
        return 0
    config = gpu_config.load_config(cursor)
    cursor.execute(
        """
        CREATE OR REPLACE TEMP TABLE gpu_affected AS
        SELECT DISTINCT unnest([date_trunc('hour', time),
                                date_trunc('hour', time - to_milliseconds($gap))]) AS hour
        FROM metric_points WHERE batch_id > $low AND batch_id <= $high
        """,
        {"low": low, "high": high, "gap": config.max_gap_ms},
    )
    return recompute(cursor, config)


def _fingerprint(cursor: duckdb.DuckDBPyConnection, config: gpu_config.GpuConfig) -> str:
    return f"{gpu_prices.fingerprint(cursor)}/{config.fingerprint()}"


def housekeeping(cursor: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
    """When the GPU prices or settings changed since the last run, recompute every hour."""
    config = gpu_config.load_config(cursor)
    current = _fingerprint(cursor, config)
    stored = gpu_config.get_value(cursor, _FINGERPRINT)
    if stored == current:
        return 0
    gpu_config.set_value(cursor, _FINGERPRINT, current)
    if stored is None:  # the first run: the step computes every hour anyway
        return 0
    cursor.execute(
        "CREATE OR REPLACE TEMP TABLE gpu_affected AS "
        "SELECT DISTINCT date_trunc('hour', time) AS hour FROM metric_points"
    )
    return recompute(cursor, config)


source = last_metric_batch
