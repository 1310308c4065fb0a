"""Outcomes (value units) and the business keys that link outcomes to traces and sessions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outcomes",
        sa.Column("outcome_id", sa.String, nullable=False),
        sa.Column("seq", sa.BigInteger),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("success", sa.Boolean),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("trace_id", sa.LargeBinary),
        sa.Column("span_id", sa.LargeBinary),
        sa.Column("session_id", sa.String),
        sa.Column("business_key", sa.String),
        sa.Column("feature", sa.String),
        sa.Column("tenant_id", sa.String),
        sa.Column("client_id", sa.String),
        sa.Column("attributes", sa.Text),
        sa.PrimaryKeyConstraint("outcome_id", name="pk_outcomes"),
        sa.CheckConstraint(
            "source IN ('span_event', 'span_attribute', 'log', 'api')", name="ck_outcomes_source"
        ),
        sa.CheckConstraint("count >= 0", name="ck_outcomes_count"),
    )
    op.create_table(
        "outcome_key_links",
        sa.Column("business_key", sa.String, nullable=False),
        sa.Column("trace_id", sa.LargeBinary, nullable=False),
        sa.Column("span_id", sa.LargeBinary, nullable=False),
        sa.Column("session_id", sa.String),
        sa.Column("feature", sa.String),
        sa.Column("tenant_id", sa.String),
        sa.Column("linked_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("business_key", "trace_id", "span_id", name="pk_outcome_key_links"),
    )


def downgrade() -> None:
    op.drop_table("outcome_key_links")
    op.drop_table("outcomes")
