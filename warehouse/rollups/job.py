"""Rollups: cost and usage per hour and per day x (feature, provider, model, tenant,
environment, agent), per day x feature, per session, per trace and per user and
day.

Identity is tenant-scoped: a session, trace and user-day row is per (tenant, id), so two
tenants that both use `sess-42` get two sessions. Calls without a tenant are a tenant of
their own (GROUP BY keeps NULL as one group; where keys are compared elsewhere, NULL is
coalesced to '', which no stored tenant is: the normalizer drops empty values). The groups
to rebuild are found by session id and by user-day alone, over every tenant: a superset of
the changed (tenant, id) groups, each rebuilt whole, so still exact.

Incremental on the pricing job's output. Every `call_costs` row carries `priced_seq`, raised
whenever the call's cost or attribution changes (see `warehouse.pricing.job`). A run takes the
rows with `priced_seq` in (low, high], finds the groups they fall in (their hours and days,
sessions, traces, user-days, and the sessions and user-days their traces were in before)
and recomputes those groups whole: a late span updates the hour it belongs to, a price
change re-prices the hours of the calls it touched, a call moved to another session leaves
the old one, and running the job twice changes nothing (the same groups are rebuilt with
the same sums).

How it stays fast (bench/rollups.py; docs/benchmarks.md):
- the three call-level tables are joined once per run, into a temp table of the calls the
  affected groups hold (`rollup_calls`); the hourly and trace rollups aggregate from it;
- `rollup_traces` holds one row per trace and (session, user, tenant, day), a few calls
  each (nearly always one row per trace), and the sessions and user-days are summed from
  those rows rather than from the calls: a full run reads `rollup_traces` itself, an
  incremental one the same partials computed for the affected groups' calls;
- every read of a call-level table carries explicit bounds on `start_time` (the span's
  start, in all three tables), so DuckDB skips the row groups outside them: the tables are
  appended in roughly time order. The bounds cover the changed calls and everything the
  affected groups held before (their first and last calls in the rollups). The joins
  themselves are on the key (trace_id, span_id) alone: `start_time` is the span's, copied
  unchanged into `model_calls` and `call_costs` (spans are never rewritten), and a third
  join key only cost hashing (~8% of the join);
- `rollup_daily` (and from it `rollup_feature_daily`, per feature only) is rebuilt
  from `rollup_hourly` for the affected days, for reads over weeks and months;
- when nothing has been rolled up yet, or most calls changed (a mass re-pricing), every
  rollup is rebuilt from all calls without looking for the affected groups;
- the rollups have no primary-key index (migration 0005): DuckDB maintaining one made
  rebuilding groups many times slower.
"""

from __future__ import annotations

from typing import Any

import duckdb

NAME = "rollups"

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

# Re-adding already summed measures (hours into days).
RESUM = """
    sum(calls), sum(unpriced_calls), sum(error_calls), sum(input_tokens), sum(output_tokens),
    sum(cache_read_tokens), sum(cache_write_tokens), sum(reasoning_tokens), sum(cost_usd),
    sum(reported_cost_usd), sum(cache_savings_usd), min(first_call_at), max(last_call_at)
"""

# 1. The calls whose cost or attribution changed, with the groups they are in now and, from
# rollup_traces, the session and user their trace was rolled up under before.
CHANGED = """
CREATE OR REPLACE TEMP TABLE rollup_changed AS
SELECT c.trace_id, c.start_time, m.session_id, m.user_id
FROM call_costs c
JOIN model_calls m ON m.trace_id = c.trace_id AND m.span_id = c.span_id
WHERE c.priced_seq > $low AND c.priced_seq <= $high
  AND m.start_time BETWEEN $first AND $last
"""

GROUPS = """
CREATE OR REPLACE TEMP TABLE rollup_traces_changed AS
SELECT DISTINCT trace_id FROM rollup_changed;
CREATE OR REPLACE TEMP TABLE rollup_hours AS
SELECT DISTINCT date_trunc('hour', start_time) AS hour FROM rollup_changed;
CREATE OR REPLACE TEMP TABLE rollup_previous AS
SELECT t.session_id, t.user_id, t.day, t.first_call_at, t.last_call_at
FROM rollup_traces t SEMI JOIN rollup_traces_changed USING (trace_id);
CREATE OR REPLACE TEMP TABLE rollup_session_keys AS
SELECT session_id FROM rollup_changed WHERE session_id IS NOT NULL
UNION SELECT session_id FROM rollup_previous WHERE session_id IS NOT NULL;
CREATE OR REPLACE TEMP TABLE rollup_user_days AS
SELECT start_time::DATE AS day, user_id FROM rollup_changed WHERE user_id IS NOT NULL
UNION SELECT day, user_id FROM rollup_previous WHERE user_id IS NOT NULL;
"""

# The time span every call of the affected groups lies in: the hours and user-days of the
# changed calls, and what the affected sessions and traces held before.
BOUNDS = """
SELECT min(low), max(high) FROM (
    SELECT min(hour) AS low, max(hour) + INTERVAL 1 HOUR AS high FROM rollup_hours
    UNION ALL
    SELECT min(day)::TIMESTAMP, max(day)::TIMESTAMP + INTERVAL 1 DAY FROM rollup_user_days
    UNION ALL
    SELECT min(first_call_at), max(last_call_at)
    FROM rollup_sessions SEMI JOIN rollup_session_keys USING (session_id)
    UNION ALL
    SELECT min(first_call_at), max(last_call_at) FROM rollup_previous
)
"""

# 2. Every call of the affected groups, joined once, with what the rollups need.
JOINED_CALLS = """
SELECT c.trace_id, c.start_time, date_trunc('hour', c.start_time) AS hour,
       c.provider, c.model, c.priced,
       m.feature, m.session_id, m.user_id, m.tenant_id, m.environment, m.agent_name,
       s.status_code, s.input_tokens, s.output_tokens, s.cache_read_tokens,
       s.cache_write_tokens, s.reasoning_tokens, c.cost_usd, c.reported_cost_usd,
       coalesce(c.cache_savings_usd, 0) AS cache_savings_usd
FROM call_costs c
JOIN model_calls m ON m.trace_id = c.trace_id AND m.span_id = c.span_id
JOIN spans s ON s.trace_id = c.trace_id AND s.span_id = c.span_id
"""
CALLS = f"CREATE OR REPLACE TEMP TABLE rollup_calls AS {JOINED_CALLS}"
AFFECTED = """
WHERE c.start_time BETWEEN $first AND $last
  AND m.start_time BETWEEN $first AND $last
  AND s.start_time BETWEEN $first AND $last
  AND (date_trunc('hour', c.start_time) IN (SELECT hour FROM rollup_hours)
       OR m.session_id IN (SELECT session_id FROM rollup_session_keys)
       OR c.trace_id IN (SELECT trace_id FROM rollup_traces_changed)
       OR (c.start_time::DATE, m.user_id) IN (SELECT (day, user_id) FROM rollup_user_days))
"""

# Per trace, session, user, tenant and day: the rows of `rollup_traces`, from which the
# session and user rollups are summed (a few calls each).
PARTIALS = f"""
SELECT trace_id, session_id, user_id, tenant_id, start_time::DATE AS day,
       arg_min(feature, start_time) AS feature,
       arg_min(environment, start_time) AS environment,
       {USAGE}
FROM rollup_calls
GROUP BY trace_id, session_id, user_id, tenant_id, day
"""

DAYS_OF_HOURS = """
WHERE hour >= (SELECT min(day) FROM rollup_days)
  AND hour < (SELECT max(day) FROM rollup_days) + INTERVAL 1 DAY
  AND hour::DATE IN (SELECT day FROM rollup_days)
"""


# Each rollup's rows, from `source`, limited by `only` (a join or condition; "" for all).
def hourly_rows(source: str = "rollup_calls", only: str = "") -> str:
    return f"""
        SELECT hour, feature, provider, model, tenant_id, environment, agent_name, {USAGE}
        FROM {source} {only}
        GROUP BY ALL
    """


def daily_rows(source: str = "rollup_hourly", only: str = "") -> str:
    return f"""
        SELECT hour::DATE AS day, feature, provider, model, tenant_id, environment,
               agent_name, {RESUM}
        FROM {source} {only}
        GROUP BY ALL
    """


def session_rows(source: str = "rollup_traces", only: str = "") -> str:
    """One row per (tenant, session): a session id means nothing without its tenant, and
    calls without a tenant are a tenant of their own (GROUP BY keeps NULL as one group)."""
    return f"""
        SELECT session_id,
               arg_min(feature, first_call_at), arg_min(user_id, first_call_at),
               tenant_id, arg_min(environment, first_call_at),
               count(DISTINCT trace_id), {RESUM}
        FROM {source} {only}
        WHERE session_id IS NOT NULL
        GROUP BY tenant_id, session_id
    """


def user_rows(source: str = "rollup_traces", only: str = "") -> str:
    return f"""
        SELECT day, user_id, tenant_id, count(DISTINCT session_id), {RESUM}
        FROM {source}
        WHERE user_id IS NOT NULL {only}
        GROUP BY day, user_id, tenant_id
    """


def _statements(full: bool) -> list[str]:
    """Each rollup: delete the affected groups (every group when `full`), then insert them
    again from rollup_calls, from the partials, or (days) from rollup_hourly."""

    def only(condition: str) -> str:
        return "" if full else condition

    partials = "rollup_traces" if full else "rollup_partials"

    statements = [
        f"DELETE FROM rollup_hourly {only('WHERE hour IN (SELECT hour FROM rollup_hours)')}",
        "INSERT INTO rollup_hourly "
        + hourly_rows(only=only("SEMI JOIN rollup_hours USING (hour)")),
        only(
            "CREATE OR REPLACE TEMP TABLE rollup_days AS "
            "SELECT DISTINCT hour::DATE AS day FROM rollup_hours"
        ),
        f"DELETE FROM rollup_daily {only('WHERE day IN (SELECT day FROM rollup_days)')}",
        "INSERT INTO rollup_daily " + daily_rows(only=only(DAYS_OF_HOURS)),
        f"DELETE FROM rollup_feature_daily {only('WHERE day IN (SELECT day FROM rollup_days)')}",
        f"""
        INSERT INTO rollup_feature_daily
        SELECT day, feature, {RESUM}
        FROM rollup_daily {only("WHERE day IN (SELECT day FROM rollup_days)")}
        GROUP BY ALL
        """,
        # A full run writes the partials of every call as `rollup_traces` and sums the
        # sessions and users from it; an incremental one computes the partials of the
        # affected groups' calls, keeps those of the changed traces, and sums from them.
        only(f"CREATE OR REPLACE TEMP TABLE rollup_partials AS {PARTIALS}"),
        f"""
        DELETE FROM rollup_traces
        {only("WHERE trace_id IN (SELECT trace_id FROM rollup_traces_changed)")}
        """,
        "INSERT INTO rollup_traces "
        + (
            PARTIALS
            if full
            else "SELECT * FROM rollup_partials SEMI JOIN rollup_traces_changed USING (trace_id)"
        ),
        "DROP TABLE rollup_calls",  # free its memory for the aggregations below
        f"""
        DELETE FROM rollup_sessions
        {only("WHERE session_id IN (SELECT session_id FROM rollup_session_keys)")}
        """,
        "INSERT INTO rollup_sessions "
        + session_rows(partials, only("SEMI JOIN rollup_session_keys USING (session_id)")),
        f"""
        DELETE FROM rollup_users
        {only("WHERE (day, user_id) IN (SELECT (day, user_id) FROM rollup_user_days)")}
        """,
        "INSERT INTO rollup_users "
        + user_rows(
            partials, only("AND (day, user_id) IN (SELECT (day, user_id) FROM rollup_user_days)")
        ),
    ]
    return [statement for statement in statements if statement]


INCREMENTAL, FULL = _statements(full=False), _statements(full=True)
VERSIONS = (
    "DELETE FROM rollup_hour_versions WHERE hour IN (SELECT hour FROM rollup_hours)",
    "INSERT INTO rollup_hour_versions SELECT hour, $high FROM rollup_hours",
)
VERSIONS_FULL = (
    "DELETE FROM rollup_hour_versions",
    "INSERT INTO rollup_hour_versions SELECT DISTINCT hour, $high FROM rollup_hourly",
)
# From this share of all calls changed, rebuilding everything is cheaper than finding groups.
REBUILD_SHARE = 0.5
TEMP_TABLES = (
    "rollup_changed", "rollup_traces_changed", "rollup_hours", "rollup_previous",
    "rollup_session_keys", "rollup_user_days", "rollup_calls", "rollup_days",
    "rollup_partials",
)  # fmt: skip


def latest_priced_seq(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.execute("SELECT coalesce(max(priced_seq), 0) FROM call_costs").fetchone()
    return int(row[0]) if row else 0


def _row(cursor: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> tuple[Any, ...]:
    row = cursor.execute(sql, params).fetchone()
    assert row is not None  # an aggregate without GROUP BY returns one row
    return row


def refresh(
    cursor: duckdb.DuckDBPyConnection,
    low: int,
    high: int,
    *,
    rebuild_share: float | None = REBUILD_SHARE,
) -> int:
    """Rebuild every group touched by call costs with priced_seq in (low, high].

    When nothing has been rolled up yet (low = 0), or at least `rebuild_share` of all calls
    changed, every rollup is rebuilt from every call instead: the same result, without
    finding the groups (None: only when low = 0). Returns the number of changed calls. The
    caller owns the transaction.
    """
    if high <= low:
        return 0
    changed, first, last = _row(
        cursor,
        "SELECT count(*), min(start_time), max(start_time) FROM call_costs "
        "WHERE priced_seq > $low AND priced_seq <= $high",
        {"low": low, "high": high},
    )
    if not changed:
        return 0
    (total,) = _row(cursor, "SELECT count(*) FROM call_costs")
    full = low == 0 or (rebuild_share is not None and changed >= rebuild_share * total)
    if full:
        cursor.execute(CALLS)
    else:
        cursor.execute(CHANGED, {"low": low, "high": high, "first": first, "last": last})
        cursor.execute(GROUPS)
        first, last = _row(cursor, BOUNDS)
        cursor.execute(CALLS + AFFECTED, {"first": first, "last": last})
    for statement in FULL if full else INCREMENTAL:
        cursor.execute(statement)
    # Which hours were rebuilt, at which version: the anomaly detector's state
    # (warehouse.detection.state) derives them again.
    delete, insert = VERSIONS_FULL if full else VERSIONS
    cursor.execute(delete)
    cursor.execute(insert, {"high": high})
    # A failed step rolls back with its transaction, temp tables included.
    for table in TEMP_TABLES:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
    return int(changed)
