"""Rollups: cost and usage per hour x dimensions, per session, per trace, per user and day.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _usage() -> list[sa.Column[object]]:
    """The measures every rollup carries."""
    return [
        sa.Column("calls", sa.BigInteger, nullable=False),
        sa.Column("unpriced_calls", sa.BigInteger, nullable=False),
        sa.Column("error_calls", sa.BigInteger, nullable=False),
        sa.Column("input_tokens", sa.BigInteger, nullable=False),
        sa.Column("output_tokens", sa.BigInteger, nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger, nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger, nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Numeric(38, 24), nullable=False),
        sa.Column("reported_cost_usd", sa.Numeric(38, 10)),
        sa.Column("cache_savings_usd", sa.Numeric(38, 24), nullable=False),
        sa.Column("first_call_at", sa.DateTime, nullable=False),
        sa.Column("last_call_at", sa.DateTime, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "rollup_hourly",
        sa.Column("hour", sa.DateTime, nullable=False),
        sa.Column("feature", sa.String),
        sa.Column("provider", sa.String, nullable=False),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("tenant_id", sa.String),
        sa.Column("environment", sa.String),
        sa.Column("agent_name", sa.String),
        *_usage(),
    )
    op.create_table(
        "rollup_sessions",
        sa.Column("session_id", sa.String, nullable=False),
        sa.Column("feature", sa.String),
        sa.Column("user_id", sa.String),
        sa.Column("tenant_id", sa.String),
        sa.Column("environment", sa.String),
        sa.Column("traces", sa.BigInteger, nullable=False),
        *_usage(),
        sa.PrimaryKeyConstraint("session_id", name="pk_rollup_sessions"),
    )
    op.create_table(
        "rollup_traces",
        sa.Column("trace_id", sa.LargeBinary, nullable=False),
        sa.Column("session_id", sa.String),
        sa.Column("feature", sa.String),
        sa.Column("user_id", sa.String),
        sa.Column("tenant_id", sa.String),
        sa.Column("environment", sa.String),
        *_usage(),
        sa.PrimaryKeyConstraint("trace_id", name="pk_rollup_traces"),
    )
    op.create_table(
        "rollup_users",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("tenant_id", sa.String),
        sa.Column("sessions", sa.BigInteger, nullable=False),
        *_usage(),
    )


def downgrade() -> None:
    for table in ("rollup_users", "rollup_traces", "rollup_sessions", "rollup_hourly"):
        op.drop_table(table)
