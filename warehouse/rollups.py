"""Rollups: cost and usage per hour x (feature, provider, model, tenant, environment, agent),
per session, per trace and per user and day.

Incremental on the pricing job's output. Every `call_costs` row carries `priced_seq`, raised
whenever the call's cost or attribution changes (see `warehouse.pricing`). A run takes the
rows with `priced_seq` in (low, high], finds the groups they fall in (their hours, sessions,
traces, user-days) and recomputes those groups whole from the call-level tables: a late span
updates the hour it belongs to, a price change re-prices the hours of the calls it touched,
and running the job twice changes nothing (the same groups are rebuilt with the same sums).

The heavy lifting is DuckDB SQL; the time filters on `start_time` let DuckDB skip row groups
outside the affected hours (the tables are appended in roughly time order).
"""

from __future__ import annotations

import duckdb

NAME = "rollups"

# One row per priced or unpriced model call with everything the rollups aggregate.
CALLS = """
    SELECT c.trace_id, c.start_time, c.provider, c.model, c.priced,
           m.feature, m.session_id, m.user_id, m.tenant_id, m.environment, m.agent_name,
           s.status_code, s.input_tokens, s.output_tokens, s.cache_read_tokens,
           s.cache_write_tokens, s.reasoning_tokens, c.cost_usd, c.reported_cost_usd,
           coalesce(s.cache_read_tokens * p.input_mtok * 0.000001 - c.cache_read_cost_usd, 0)
               AS cache_savings_usd
    FROM call_costs c
    JOIN model_calls m USING (trace_id, span_id)
    JOIN spans s USING (trace_id, span_id)
    LEFT JOIN price_periods p ON p.id = c.price_period_id
"""

USAGE = """
    count(*) AS calls,
    count(*) FILTER (WHERE NOT priced) AS unpriced_calls,
    count(*) FILTER (WHERE status_code = 2) AS error_calls,
    coalesce(sum(input_tokens), 0) AS input_tokens,
    coalesce(sum(output_tokens), 0) AS output_tokens,
    coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
    coalesce(sum(cache_write_tokens), 0) AS cache_write_tokens,
    coalesce(sum(reasoning_tokens), 0) AS reasoning_tokens,
    coalesce(sum(cost_usd), 0)::DECIMAL(38, 24) AS cost_usd,
    sum(reported_cost_usd)::DECIMAL(38, 10) AS reported_cost_usd,
    sum(cache_savings_usd)::DECIMAL(38, 24) AS cache_savings_usd,
    min(start_time) AS first_call_at,
    max(start_time) AS last_call_at
"""

CHANGED = """
CREATE OR REPLACE TEMP TABLE rollup_changed AS
SELECT c.start_time, m.session_id, m.user_id, c.trace_id
FROM call_costs c JOIN model_calls m USING (trace_id, span_id)
WHERE c.priced_seq > $low AND c.priced_seq <= $high
"""

HOURLY = f"""
DELETE FROM rollup_hourly
WHERE hour IN (SELECT DISTINCT date_trunc('hour', start_time) FROM rollup_changed);
INSERT INTO rollup_hourly
SELECT date_trunc('hour', start_time) AS hour, feature, provider, model, tenant_id,
       environment, agent_name, {USAGE}
FROM ({CALLS}
      WHERE c.start_time >= (SELECT date_trunc('hour', min(start_time)) FROM rollup_changed)
        AND c.start_time < (SELECT date_trunc('hour', max(start_time)) FROM rollup_changed)
                           + INTERVAL 1 HOUR
        AND date_trunc('hour', c.start_time) IN (
            SELECT DISTINCT date_trunc('hour', start_time) FROM rollup_changed)
) calls
GROUP BY ALL;
"""

SESSIONS = f"""
DELETE FROM rollup_sessions
WHERE session_id IN (SELECT session_id FROM rollup_changed WHERE session_id IS NOT NULL);
INSERT INTO rollup_sessions
SELECT session_id,
       arg_min(feature, start_time) AS feature,
       arg_min(user_id, start_time) AS user_id,
       arg_min(tenant_id, start_time) AS tenant_id,
       arg_min(environment, start_time) AS environment,
       count(DISTINCT trace_id) AS traces,
       {USAGE}
FROM ({CALLS}
      WHERE m.session_id IN (
          SELECT session_id FROM rollup_changed WHERE session_id IS NOT NULL)
) calls
GROUP BY session_id;
"""

TRACES = f"""
DELETE FROM rollup_traces WHERE trace_id IN (SELECT trace_id FROM rollup_changed);
INSERT INTO rollup_traces
SELECT trace_id,
       arg_min(session_id, start_time), arg_min(feature, start_time),
       arg_min(user_id, start_time), arg_min(tenant_id, start_time),
       arg_min(environment, start_time),
       {USAGE}
FROM ({CALLS}
      WHERE c.trace_id IN (SELECT trace_id FROM rollup_changed)
) calls
GROUP BY trace_id;
"""

USERS = f"""
CREATE OR REPLACE TEMP TABLE rollup_user_days AS
SELECT DISTINCT start_time::DATE AS day, user_id FROM rollup_changed
WHERE user_id IS NOT NULL;
DELETE FROM rollup_users
WHERE (day, user_id) IN (SELECT (day, user_id) FROM rollup_user_days);
INSERT INTO rollup_users
SELECT start_time::DATE AS day, user_id, tenant_id,
       count(DISTINCT session_id) AS sessions,
       {USAGE}
FROM ({CALLS}
      WHERE m.user_id IN (SELECT user_id FROM rollup_user_days)
        AND c.start_time >= (SELECT min(day) FROM rollup_user_days)
        AND c.start_time < (SELECT max(day) FROM rollup_user_days) + INTERVAL 1 DAY
) calls
WHERE (start_time::DATE, user_id) IN (SELECT (day, user_id) FROM rollup_user_days)
GROUP BY ALL;
"""


def latest_priced_seq(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.execute("SELECT coalesce(max(priced_seq), 0) FROM call_costs").fetchone()
    return int(row[0]) if row else 0


def refresh(cursor: duckdb.DuckDBPyConnection, low: int, high: int) -> int:
    """Rebuild every group touched by call costs with priced_seq in (low, high].

    Returns the number of changed calls. The caller owns the transaction.
    """
    if high <= low:
        return 0
    cursor.execute(CHANGED, {"low": low, "high": high})
    row = cursor.execute("SELECT count(*) FROM rollup_changed").fetchone()
    changed = int(row[0]) if row else 0
    if changed:
        for statement in (HOURLY, SESSIONS, TRACES, USERS):
            cursor.execute(statement)
    cursor.execute("DROP TABLE IF EXISTS rollup_changed")
    cursor.execute("DROP TABLE IF EXISTS rollup_user_days")
    return changed
