"""The GPU allocation job: each deployment's GPU cost, spread over the calls it served.

For every hour queued in `gpu_dirty_hours` (by the efficiency job when an hour's GPU
figures change, and by this job's step when model calls of that hour are attributed), the
hour's model calls are matched to deployments and each deployment's GPU cost of the hour,
idle share included, is split over its calls into `gpu_call_costs`.

Matching (the `match` GPU setting, in order; the first rule that finds a deployment wins,
and among several deployments found by one rule, the first by name):

- `deployment`: a span (or its resource) attribute of `deployment_attributes` names the
  deployment;
- `server_address`: the span's `server.address` is an address the deployment's vLLM metrics
  carried that hour;
- `model`: the span's response (else request) model is a model the deployment served that
  hour (vLLM's `model_name`).

Splitting. A call's weight is its input plus output tokens (every call weighs 1 when none of
the deployment's calls that hour has tokens). Cost and idle cost are integer nano-dollars,
split by largest remainder: each call gets floor(cost x weight / total), and the nano-dollars
left go one each to the calls with the largest remainders. The shares add up to the hour's
cost exactly; an hour with GPU cost and no matched call keeps it unallocated.

Into the cost figures. The pricing job prices a call with an allocation at its allocated cost
(`price_source` 'gpu') instead of token prices, so the call is never counted twice, and the
rollups (feature, session, tenant, value units) carry it. When an allocation changes, this
job queues re-pricing (`reprice_requests`) of the calls' price keys from the first changed
call, which the pricing job processes on its next run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from warehouse.core.clock import naive_utc
from warehouse.gpu import config as gpu_config
from warehouse.pricing.calls import KEY_MODEL, KEY_PROVIDER, queue_reprice
from warehouse.spans.attribution import NAME as ATTRIBUTION

NAME = "gpu_allocation"
_FINGERPRINT = "allocation_fingerprint"

CALLS = """
CREATE OR REPLACE TEMP TABLE alloc_calls AS
SELECT m.trace_id, m.span_id, m.start_time, date_trunc('hour', m.start_time) AS hour,
       coalesce(s.input_tokens, 0) + coalesce(s.output_tokens, 0) AS tokens,
       {deployment} AS call_deployment,
       {server_address} AS server_address,
       coalesce(nullif(s.response_model, ''), nullif(s.request_model, '')) AS model,
       {provider} AS key_provider, {model} AS key_model
FROM model_calls m JOIN spans s USING (trace_id, span_id)
WHERE m.start_time >= $lo AND m.start_time < $hi
  AND s.start_time >= $lo AND s.start_time < $hi
  AND date_trunc('hour', m.start_time) IN (SELECT hour FROM alloc_hours)
"""

# Each rule: (call, deployment) pairs it finds.
RULES = {
    "deployment": """
        SELECT c.trace_id, c.span_id, g.deployment FROM alloc_calls c
        JOIN gpu_deployment_hourly g ON g.hour = c.hour AND g.deployment = c.call_deployment
    """,
    "server_address": """
        SELECT c.trace_id, c.span_id, e.deployment FROM alloc_calls c
        JOIN gpu_endpoints e
            ON e.hour = c.hour AND e.kind = 'address' AND e.value = c.server_address
    """,
    "model": """
        SELECT c.trace_id, c.span_id, e.deployment FROM alloc_calls c
        JOIN gpu_endpoints e ON e.hour = c.hour AND e.kind = 'model' AND e.value = c.model
    """,
}

# The first rule's match, the first deployment by name: an aggregate, not a sort.
MATCHES = """
CREATE OR REPLACE TEMP TABLE alloc_matches AS
WITH found AS ({found}),
best AS (
    SELECT trace_id, span_id, arg_min(deployment, (rank, deployment)) AS deployment,
           arg_min(matched_by, (rank, deployment)) AS matched_by
    FROM found GROUP BY trace_id, span_id
)
SELECT c.trace_id, c.span_id, c.start_time, c.hour, c.tokens, b.deployment, b.matched_by
FROM alloc_calls c JOIN best b USING (trace_id, span_id)
"""

# The hour's totals are joined (an aggregate), and one window ranks the calls for both the
# cost's and the idle cost's left-over nano-dollars (by the cost's remainder): any calls may
# take them, one each, and each share stays within one nano-dollar of its exact value.
SHARES = """
CREATE OR REPLACE TEMP TABLE alloc_new AS
WITH totals AS (
    SELECT hour, deployment, sum(tokens) AS total_tokens, count(*) AS calls
    FROM alloc_matches GROUP BY hour, deployment
), x AS (
    SELECT m.trace_id, m.span_id, m.start_time, m.hour, m.deployment, m.matched_by,
           g.cost_nanos AS c, g.idle_cost_nanos AS i,
           (CASE WHEN t.total_tokens > 0 THEN m.tokens ELSE 1 END)::BIGINT AS weight,
           (CASE WHEN t.total_tokens > 0 THEN t.total_tokens ELSE t.calls END)::BIGINT AS total
    FROM alloc_matches m
    JOIN totals t ON t.hour = m.hour AND t.deployment = m.deployment
    JOIN gpu_deployment_hourly g ON g.hour = m.hour AND g.deployment = m.deployment
), y AS (
    -- c x weight // total without the product c x weight (BIGINT would overflow, HUGEINT
    -- division is slow): (c // total) x weight + (c % total) x weight // total. The last
    -- product is below total^2, so BIGINT holds it up to 3 billion tokens per
    -- deployment-hour (beyond, DuckDB raises an overflow error, never a wrong share).
    SELECT x.*,
           c // total * weight + c % total * weight // total AS c_base,
           c % total * weight % total AS c_rem,
           i // total * weight + i % total * weight // total AS i_base
    FROM x
), left_over AS (
    SELECT hour, deployment, any_value(c) - sum(c_base) AS c_left,
           any_value(i) - sum(i_base) AS i_left
    FROM y GROUP BY hour, deployment
), ranked AS (
    SELECT y.*, row_number() OVER (
               PARTITION BY hour, deployment ORDER BY c_rem DESC, trace_id, span_id
           ) AS position
    FROM y
)
SELECT r.trace_id, r.span_id, r.start_time, r.hour, r.deployment, r.matched_by,
       r.weight,
       (r.c_base + CASE WHEN r.position <= l.c_left THEN 1 ELSE 0 END)::BIGINT AS cost_nanos,
       (r.i_base + CASE WHEN r.position <= l.i_left THEN 1 ELSE 0 END)::BIGINT
           AS idle_cost_nanos
FROM ranked r JOIN left_over l ON l.hour = r.hour AND l.deployment = r.deployment
"""

# The price keys whose calls' allocation changed, from the first changed call on.
CHANGED_KEYS = """
SELECT c.key_provider, c.key_model, min(c.start_time)
FROM (
    SELECT coalesce(n.trace_id, o.trace_id) AS trace_id,
           coalesce(n.span_id, o.span_id) AS span_id
    FROM alloc_new n
    FULL JOIN alloc_old o ON o.trace_id = n.trace_id AND o.span_id = n.span_id
    WHERE n.cost_nanos IS DISTINCT FROM o.cost_nanos
) changed
JOIN alloc_calls c ON c.trace_id = changed.trace_id AND c.span_id = changed.span_id
GROUP BY ALL
ORDER BY 1, 2
"""

TEMP_TABLES = (
    "alloc_hours", "alloc_calls", "alloc_matches", "alloc_new", "alloc_old",
)  # fmt: skip


def _deployment_expression(keys: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """coalesce over the span's then the resource's attributes, keys as parameters."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    for column in ("s.attributes", "s.resource_attributes"):
        for index, key in enumerate(keys):
            name = f"dk{index}"
            params[name] = '$."' + key.replace('"', '\\"') + '"'
            parts.append(f"json_extract_string({column}, ${name})")
    return (f"coalesce({', '.join(parts)})" if parts else "NULL::VARCHAR"), params


def allocate(cursor: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
    """Allocate the hours queued in `gpu_dirty_hours`; returns the calls whose cost changed.
    The caller owns the transaction."""
    cursor.execute(
        "CREATE OR REPLACE TEMP TABLE alloc_hours AS SELECT DISTINCT hour FROM gpu_dirty_hours"
    )
    row = cursor.execute(
        "SELECT min(hour), max(hour) + INTERVAL 1 HOUR FROM alloc_hours"
    ).fetchone()
    if row is None or row[0] is None:
        cursor.execute("DROP TABLE alloc_hours")
        return 0
    window = {"lo": row[0], "hi": row[1]}
    config = gpu_config.load_config(cursor)
    # Only what the configured rules look at is read from the spans' attributes.
    deployment, params = (
        _deployment_expression(config.deployment_attributes)
        if "deployment" in config.match
        else ("NULL::VARCHAR", {})
    )
    server_address = (
        """json_extract_string(s.attributes, '$."server.address"')"""
        if "server_address" in config.match
        else "NULL::VARCHAR"
    )
    cursor.execute(
        CALLS.format(
            deployment=deployment,
            server_address=server_address,
            provider=KEY_PROVIDER,
            model=KEY_MODEL,
        ),
        window | params,
    )
    found = " UNION ALL ".join(
        f"SELECT *, '{rule}' AS matched_by, {rank} AS rank FROM ({RULES[rule]})"
        for rank, rule in enumerate(config.match)
    ) or (
        "SELECT NULL::BLOB AS trace_id, NULL::BLOB AS span_id, NULL::VARCHAR AS deployment, "
        "NULL::VARCHAR AS matched_by, 0 AS rank LIMIT 0"
    )
    cursor.execute(MATCHES.format(found=found))
    cursor.execute(SHARES)
    in_hours = "hour >= $lo AND hour < $hi AND hour IN (SELECT hour FROM alloc_hours)"
    cursor.execute(
        "CREATE OR REPLACE TEMP TABLE alloc_old AS "
        f"SELECT trace_id, span_id, cost_nanos FROM gpu_call_costs WHERE {in_hours}",
        window,
    )
    cursor.execute(f"DELETE FROM gpu_call_costs WHERE {in_hours}", window)
    cursor.execute(
        "INSERT INTO gpu_call_costs SELECT trace_id, span_id, start_time, hour, deployment, "
        "matched_by, weight, cost_nanos, idle_cost_nanos FROM alloc_new"
    )
    changed = 0
    for provider, model, since in cursor.execute(CHANGED_KEYS).fetchall():
        queue_reprice(cursor, provider, model, since, "GPU allocation changed", naive_utc(now))
        changed += 1
    cursor.execute("DELETE FROM gpu_dirty_hours WHERE hour IN (SELECT hour FROM alloc_hours)")
    for table in TEMP_TABLES:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
    return changed


def step(cursor: duckdb.DuckDBPyConnection, low: int, high: int) -> int:
    """Queue the hours of the model calls attributed in batches (low, high] that have GPU
    figures, then allocate every queued hour."""
    if high <= low:
        return 0
    cursor.execute(
        """
        INSERT INTO gpu_dirty_hours
        SELECT DISTINCT date_trunc('hour', start_time) AS hour FROM model_calls
        WHERE attributed_batch_id > $low AND attributed_batch_id <= $high
          AND date_trunc('hour', start_time) IN (SELECT hour FROM gpu_deployment_hourly)
        """,
        {"low": low, "high": high},
    )
    return allocate(cursor, dt.datetime.now(dt.UTC))


def _behind(cursor: duckdb.DuckDBPyConnection) -> bool:
    """Whether calls were attributed since this job's last step (which will allocate)."""
    row = cursor.execute(
        """
        SELECT coalesce(max(watermark) FILTER (WHERE name = $attribution), 0)
             > coalesce(max(watermark) FILTER (WHERE name = $name), 0)
        FROM job_state
        """,
        {"attribution": ATTRIBUTION, "name": NAME},
    ).fetchone()
    return bool(row and row[0])


def housekeeping(cursor: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
    """Allocate the hours the efficiency job queued; every hour when the GPU settings
    changed. Left to the step when it has new calls to look at (it allocates every queued
    hour, so each hour is allocated once per run)."""
    current = gpu_config.load_config(cursor).fingerprint()
    if gpu_config.get_value(cursor, _FINGERPRINT) != current:
        gpu_config.set_value(cursor, _FINGERPRINT, current)
        cursor.execute(
            "INSERT INTO gpu_dirty_hours SELECT DISTINCT hour FROM gpu_deployment_hourly"
        )
    if _behind(cursor):
        return 0
    return allocate(cursor, now)
