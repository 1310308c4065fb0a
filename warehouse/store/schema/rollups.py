"""Cost and usage rolled up by hour, day, session, trace and user (Core tables, no key)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, DateTime, LargeBinary, Numeric, String, Table

from warehouse.store.schema.base import Base


# Rollups (written by warehouse/rollups/job.py). Rows are rebuilt by group (the job keeps one row
# per key), so they have no primary key (an index DuckDB would maintain on every rebuild,
# migration 0005) and are described as Core tables rather than ORM classes. Their unique ids
# and DECIMAL(38, 24) money are stored uncompressed (migration 0012: cheaper to write).
def _usage_columns() -> list[Column[object]]:
    return [
        Column("calls", BigInteger, nullable=False),
        Column("unpriced_calls", BigInteger, nullable=False),
        Column("error_calls", BigInteger, nullable=False),
        Column("input_tokens", BigInteger, nullable=False),
        Column("output_tokens", BigInteger, nullable=False),
        Column("cache_read_tokens", BigInteger, nullable=False),
        Column("cache_write_tokens", BigInteger, nullable=False),
        Column("reasoning_tokens", BigInteger, nullable=False),
        Column("cost_usd", Numeric(38, 24), nullable=False),
        Column("reported_cost_usd", Numeric(38, 10)),
        Column("cache_savings_usd", Numeric(38, 24), nullable=False),
        Column("first_call_at", DateTime, nullable=False),
        Column("last_call_at", DateTime, nullable=False),
    ]


def _dimension_columns() -> list[Column[object]]:
    """The dimensions of the hourly and daily rollups."""
    return [
        Column("feature", String),
        Column("provider", String, nullable=False),
        Column("model", String, nullable=False),
        Column("tenant_id", String),
        Column("environment", String),
        Column("agent_name", String),
    ]


rollup_hourly = Table(
    "rollup_hourly",
    Base.metadata,
    Column("hour", DateTime, nullable=False),
    *_dimension_columns(),
    *_usage_columns(),
)

rollup_daily = Table(
    "rollup_daily",
    Base.metadata,
    Column("day", Date, nullable=False),
    *_dimension_columns(),
    *_usage_columns(),
)

rollup_feature_daily = Table(
    "rollup_feature_daily",
    Base.metadata,
    Column("day", Date, nullable=False),
    Column("feature", String),
    *_usage_columns(),
)

rollup_sessions = Table(
    "rollup_sessions",
    Base.metadata,
    Column("session_id", String, nullable=False),
    Column("feature", String),
    Column("user_id", String),
    Column("tenant_id", String),
    Column("environment", String),
    Column("traces", BigInteger, nullable=False),
    *_usage_columns(),
)

# One row per trace and (session, user, tenant, day): nearly always one per trace. The
# sessions and user-days are summed from these rows (migration 0010).
rollup_traces = Table(
    "rollup_traces",
    Base.metadata,
    Column("trace_id", LargeBinary, nullable=False),
    Column("session_id", String),
    Column("user_id", String),
    Column("tenant_id", String),
    Column("day", Date, nullable=False),
    Column("feature", String),
    Column("environment", String),
    *_usage_columns(),
)

# The hours the rollups job rebuilt, and the priced_seq it rebuilt them at (migration 0011):
# the anomaly detector's state (warehouse/detection/state.py) derives such hours again.
rollup_hour_versions = Table(
    "rollup_hour_versions",
    Base.metadata,
    Column("hour", DateTime, nullable=False),
    Column("version", BigInteger, nullable=False),
)

rollup_users = Table(
    "rollup_users",
    Base.metadata,
    Column("day", Date, nullable=False),
    Column("user_id", String, nullable=False),
    Column("tenant_id", String),
    Column("sessions", BigInteger, nullable=False),
    *_usage_columns(),
)
