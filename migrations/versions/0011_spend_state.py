"""Spend-anomaly detector state: the statistics of every closed hour per series.

`spend_state` keeps, per spend series and closed hour, the spend and the statistics the
baseline of later hours reads (warehouse/detection/state.py), so a detector run reads a few
hours of it instead of rebuilding 45 days of series from `rollup_hourly`.
`spend_state_series` names the series, `spend_state_hours` records which rollup version
each hour was derived from, and `rollup_hour_versions` (written by the rollups job) which
hours the rollups rebuilt and when: an hour re-rolled after it was derived (a late span, a
re-pricing) is derived again, and every hour after it.

Derived data only: downgrading drops it, and the next run derives it again.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

GRAINS = ("hour", "day")


def upgrade() -> None:
    op.create_table(
        "rollup_hour_versions",
        sa.Column("hour", sa.DateTime, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "spend_state_series",
        sa.Column("series", sa.Integer, nullable=False),
        sa.Column("key", sa.String, nullable=False),
        sa.Column("feature", sa.String),
        sa.Column("model", sa.String),
        sa.Column("tenant", sa.String),
        sa.Column("first_hour", sa.DateTime, nullable=False),
        sa.Column("last_hour", sa.DateTime, nullable=False),
    )
    op.create_table(
        "spend_state_hours",
        sa.Column("hour", sa.DateTime, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("config", sa.String, nullable=False),
        sa.Column("stats", sa.Boolean, nullable=False),
    )
    op.create_table(
        "spend_state",
        sa.Column("series", sa.Integer, nullable=False),
        sa.Column("hour", sa.DateTime, nullable=False),
        sa.Column("actual", sa.Double, nullable=False),
        *(
            sa.Column(f"{name}_{grain}", sa.Double)
            for grain in GRAINS
            for name in ("value", "residual", "deviation", "next_recent", "next_level", "next_mad")
        ),
        sa.Column("next_active", sa.Double),
    )


def downgrade() -> None:
    for table in ("spend_state", "spend_state_hours", "spend_state_series", "rollup_hour_versions"):
        op.drop_table(table)
