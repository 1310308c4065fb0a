"""Rollups: cost and usage per hour x dimensions, per session, per trace, per user and day.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.columns import rollup_measures

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


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
        *rollup_measures(),
    )
    op.create_table(
        "rollup_sessions",
        sa.Column("session_id", sa.String, nullable=False),
        sa.Column("feature", sa.String),
        sa.Column("user_id", sa.String),
        sa.Column("tenant_id", sa.String),
        sa.Column("environment", sa.String),
        sa.Column("traces", sa.BigInteger, nullable=False),
        *rollup_measures(),
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
        *rollup_measures(),
        sa.PrimaryKeyConstraint("trace_id", name="pk_rollup_traces"),
    )
    op.create_table(
        "rollup_users",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("tenant_id", sa.String),
        sa.Column("sessions", sa.BigInteger, nullable=False),
        *rollup_measures(),
    )


def downgrade() -> None:
    for table in ("rollup_users", "rollup_traces", "rollup_sessions", "rollup_hourly"):
        op.drop_table(table)
