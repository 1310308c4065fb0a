"""Rollups: daily rollups for fast reads, and no primary-key index on the rebuilt rollups.

`rollup_daily` holds what `rollup_hourly` holds, summed per day, and `rollup_feature_daily`
the same per day and feature only: cost queries over weeks or months read them for whole
days (at 10M calls a month over 50 tenants: 2.4M hourly rows, 500k daily, 1,200
feature-daily), the smallest that has the dimensions a query needs (a tenant-scoped query
needs the tenant). Both are backfilled from `rollup_hourly`.

`rollup_sessions` and `rollup_traces` lose their primary-key index (the rollups job keeps
one row per key: it deletes and rebuilds whole groups). DuckDB maintains such an ART index
at a cost that grew with the table: deleting and re-inserting 4M traces took minutes with
the index and seconds without. DuckDB cannot drop a constraint, so both tables are rebuilt
with the same columns, and rebuilt with the index again on downgrade.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.columns import ROLLUP_COUNTS, rollup_measures
from migrations.tables import rebuild_as_is

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

REKEYED = {"rollup_sessions": "session_id", "rollup_traces": "trace_id"}
DIMENSIONS = ("feature", "provider", "model", "tenant_id", "environment", "agent_name")
MEASURES = (*ROLLUP_COUNTS, "cost_usd", "reported_cost_usd", "cache_savings_usd")


def upgrade() -> None:
    op.create_table(
        "rollup_daily",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("feature", sa.String),
        sa.Column("provider", sa.String, nullable=False),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("tenant_id", sa.String),
        sa.Column("environment", sa.String),
        sa.Column("agent_name", sa.String),
        *rollup_measures(),
    )
    op.create_table(
        "rollup_feature_daily",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("feature", sa.String),
        *rollup_measures(),
    )
    sums = ", ".join(f"sum({m})" for m in MEASURES)
    for table, dimensions in (
        ("rollup_daily", DIMENSIONS),
        ("rollup_feature_daily", ("feature",)),
    ):
        op.execute(
            f"INSERT INTO {table} SELECT hour::DATE, {', '.join(dimensions)}, {sums}, "
            "min(first_call_at), max(last_call_at) FROM rollup_hourly GROUP BY ALL"
        )
    for table in REKEYED:
        rebuild_as_is(table)


def downgrade() -> None:
    for table, key in REKEYED.items():
        rebuild_as_is(table, primary_key=key)
    op.drop_table("rollup_feature_daily")
    op.drop_table("rollup_daily")
