"""Alert signals: what the detectors found, the input of the alert lifecycle.

Each detector run (spend anomalies, runaway sessions, budgets) appends one row per series
that is firing at that moment; a quiet series appends nothing. The alert lifecycle reads the
rows after its watermark (the `id` sequence) and opens, updates and resolves incidents.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(38, 12)


def upgrade() -> None:
    op.execute("CREATE SEQUENCE alert_signals_id_seq START 1")
    op.create_table(
        "alert_signals",
        sa.Column(
            "id",
            sa.BigInteger,
            nullable=False,
            server_default=sa.text("nextval('alert_signals_id_seq')"),
        ),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("series", sa.String, nullable=False),
        sa.Column("direction", sa.String, nullable=False),
        sa.Column("detected_at", sa.DateTime, nullable=False),
        sa.Column("window_start", sa.DateTime, nullable=False),
        sa.Column("window_end", sa.DateTime, nullable=False),
        sa.Column("actual_usd", MONEY, nullable=False),
        sa.Column("expected_usd", MONEY, nullable=False),
        sa.Column("impact_usd", MONEY, nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("tenant_id", sa.String),
        sa.Column("title", sa.String, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_signals"),
        sa.CheckConstraint(
            "kind IN ('spend_anomaly', 'runaway_session', 'budget')", name="ck_alert_signals_kind"
        ),
        sa.CheckConstraint("direction IN ('up', 'down')", name="ck_alert_signals_direction"),
    )


def downgrade() -> None:
    op.drop_table("alert_signals")
    op.execute("DROP SEQUENCE alert_signals_id_seq")
