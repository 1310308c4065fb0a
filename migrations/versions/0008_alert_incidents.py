"""Alert lifecycle and delivery: incidents, the outbox, the delivery log, mutes, the policy.

`alert_incidents`: one row per (kind, series, direction) episode, opened by a signal, updated
in place, resolved after a quiet time. `alert_outbox`: what must be sent to which channel,
written in the lifecycle job's transaction. `alert_deliveries`: every delivery attempt and its
outcome. `alert_mutes`: series muted until a time. `alert_policy`: the thresholds and routes
the serving process runs with (no secrets).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.columns import create_numbered_table, drop_numbered_table

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(38, 12)
SEVERITIES = "('info', 'warning', 'critical')"
CHANNELS = "('slack', 'pagerduty', 'webhook')"


def upgrade() -> None:
    create_numbered_table(
        "alert_incidents",
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("series", sa.String, nullable=False),
        sa.Column("direction", sa.String, nullable=False),
        sa.Column("tenant_id", sa.String),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("severity", sa.String, nullable=False),
        sa.Column("title", sa.String, nullable=False),
        sa.Column("dedup_key", sa.String, nullable=False),
        sa.Column("opened_at", sa.DateTime, nullable=False),
        sa.Column("last_signal_at", sa.DateTime, nullable=False),
        sa.Column("resolved_at", sa.DateTime),
        sa.Column("first_signal_id", sa.BigInteger, nullable=False),
        sa.Column("last_signal_id", sa.BigInteger, nullable=False),
        sa.Column("signal_count", sa.BigInteger, nullable=False),
        sa.Column("reopen_count", sa.Integer, nullable=False),
        sa.Column("window_start", sa.DateTime, nullable=False),
        sa.Column("window_end", sa.DateTime, nullable=False),
        sa.Column("actual_usd", MONEY, nullable=False),
        sa.Column("expected_usd", MONEY, nullable=False),
        sa.Column("impact_usd", MONEY, nullable=False),
        sa.Column("peak_impact_usd", MONEY, nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("notified_severity", sa.String),
        sa.Column("suppressed_severity", sa.String),
        sa.Column("notified_channels", sa.String, nullable=False),
        sa.Column("acknowledged_at", sa.DateTime),
        sa.Column("acknowledged_by", sa.String),
        sa.CheckConstraint("status IN ('open', 'resolved')", name="ck_alert_incidents_status"),
        sa.CheckConstraint(f"severity IN {SEVERITIES}", name="ck_alert_incidents_severity"),
    )
    create_numbered_table(
        "alert_outbox",
        sa.Column("incident_id", sa.BigInteger, nullable=False),
        sa.Column("channel", sa.String, nullable=False),
        sa.Column("event", sa.String, nullable=False),
        sa.Column("severity", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("note", sa.String),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("last_attempt_at", sa.DateTime),
        sa.Column("sent_at", sa.DateTime),
        sa.Column("last_error", sa.String),
        sa.CheckConstraint(f"channel IN {CHANNELS}", name="ck_alert_outbox_channel"),
        sa.CheckConstraint(
            "event IN ('trigger', 'resolve', 'acknowledge')", name="ck_alert_outbox_event"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed', 'suppressed')", name="ck_alert_outbox_status"
        ),
    )
    create_numbered_table(
        "alert_deliveries",
        sa.Column("outbox_id", sa.BigInteger, nullable=False),
        sa.Column("incident_id", sa.BigInteger, nullable=False),
        sa.Column("channel", sa.String, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("duration_ms", sa.Double, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("outcome", sa.String, nullable=False),
        sa.Column("error", sa.String),
        sa.Column("next_attempt_at", sa.DateTime),
        sa.CheckConstraint(
            "outcome IN ('sent', 'retry', 'failed')", name="ck_alert_deliveries_outcome"
        ),
    )
    create_numbered_table(
        "alert_mutes",
        sa.Column("series", sa.String, nullable=False),
        sa.Column("tenant_id", sa.String),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("until", sa.DateTime, nullable=False),
        sa.Column("reason", sa.String),
    )
    op.create_table(
        "alert_policy",
        sa.Column("name", sa.String, nullable=False),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_alert_policy"),
    )


def downgrade() -> None:
    op.drop_table("alert_policy")
    for table in ("alert_mutes", "alert_deliveries", "alert_outbox", "alert_incidents"):
        drop_numbered_table(table)
