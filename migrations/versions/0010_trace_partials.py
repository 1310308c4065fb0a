"""Rollups: `rollup_traces` holds one row per trace and (session, user, tenant, day).

Sessions and user-days used to be summed from per-trace partials computed in a temporary
table on every run, and `rollup_traces` summed those partials once more per trace. Now the
partials are `rollup_traces` itself: a trace whose calls share one session, user, tenant
and day (nearly all) keeps one row, and the sessions and user-days are summed from it. A
full rebuild of 10M calls no longer aggregates and writes 4M trace rows twice.

The table is recreated empty and the rollups job's watermark reset: its next run rebuilds
every rollup from the call-level tables.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from migrations.columns import rollup_measures

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _recreate(*columns: sa.Column[Any]) -> None:
    op.drop_table("rollup_traces")
    op.create_table("rollup_traces", *columns, *rollup_measures())
    op.execute("UPDATE job_state SET watermark = 0 WHERE name = 'rollups'")


def upgrade() -> None:
    _recreate(
        sa.Column("trace_id", sa.LargeBinary, nullable=False),
        sa.Column("session_id", sa.String),
        sa.Column("user_id", sa.String),
        sa.Column("tenant_id", sa.String),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("feature", sa.String),
        sa.Column("environment", sa.String),
    )


def downgrade() -> None:
    _recreate(
        sa.Column("trace_id", sa.LargeBinary, nullable=False),
        sa.Column("session_id", sa.String),
        sa.Column("feature", sa.String),
        sa.Column("user_id", sa.String),
        sa.Column("tenant_id", sa.String),
        sa.Column("environment", sa.String),
    )
