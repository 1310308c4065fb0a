"""Alert signals: what the detectors found, the input of the alert lifecycle.

Each detector run (spend anomalies, runaway sessions, budgets) appends one row per series
that is firing at that moment; a quiet series appends nothing. The alert lifecycle reads the
rows after its watermark (the `id` sequence) and opens, updates and resolves incidents.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

from migrations.tables import create_alert_signals

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE alert_signals_id_seq START 1")
    create_alert_signals("alert_signals", "'spend_anomaly', 'runaway_session', 'budget'")


def downgrade() -> None:
    op.drop_table("alert_signals")
    op.execute("DROP SEQUENCE alert_signals_id_seq")
