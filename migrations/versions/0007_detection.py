"""Detection: budgets and the detectors' configuration, both loaded from the detection file.

`budgets` holds the spend budgets (per feature, tenant or in total, per day or month) and
`detector_config` the thresholds of the spend-anomaly and runaway-session detectors (JSON,
one row per detector; absent: the defaults). Both are rewritten from
`<data_dir>/detection.toml` when the service starts (`warehouse.config.detection_file`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("name", sa.String, nullable=False),
        sa.Column("scope", sa.String, nullable=False),
        sa.Column("scope_value", sa.String),
        sa.Column("period", sa.String, nullable=False),
        sa.Column("amount_usd", sa.Numeric(38, 12), nullable=False),
        sa.Column("thresholds", sa.String, nullable=False),
        sa.Column("forecast", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_budgets"),
        sa.CheckConstraint("scope IN ('total', 'feature', 'tenant')", name="ck_budgets_scope"),
        sa.CheckConstraint("period IN ('day', 'month')", name="ck_budgets_period"),
    )
    op.create_table(
        "detector_config",
        sa.Column("detector", sa.String, nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("detector", name="pk_detector_config"),
    )


def downgrade() -> None:
    op.drop_table("detector_config")
    op.drop_table("budgets")
