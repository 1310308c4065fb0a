"""Spans, model calls with their attribution, and job state.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spans",
        sa.Column("trace_id", sa.LargeBinary, nullable=False),
        sa.Column("span_id", sa.LargeBinary, nullable=False),
        sa.Column("parent_span_id", sa.LargeBinary),
        sa.Column("batch_id", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("start_time", sa.DateTime, nullable=False),
        sa.Column("end_time", sa.DateTime, nullable=False),
        sa.Column("duration_ms", sa.Double, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.SmallInteger, nullable=False),
        sa.Column("status_code", sa.SmallInteger, nullable=False),
        sa.Column("status_message", sa.Text),
        sa.Column("service", sa.String),
        sa.Column("scope_name", sa.String),
        sa.Column("is_model_call", sa.Boolean, nullable=False),
        sa.Column("is_usage_rollup", sa.Boolean, nullable=False),
        sa.Column("provider", sa.String),
        sa.Column("operation", sa.String),
        sa.Column("request_model", sa.String),
        sa.Column("response_model", sa.String),
        sa.Column("input_tokens", sa.BigInteger),
        sa.Column("output_tokens", sa.BigInteger),
        sa.Column("cache_read_tokens", sa.BigInteger),
        sa.Column("cache_write_tokens", sa.BigInteger),
        sa.Column("reasoning_tokens", sa.BigInteger),
        sa.Column("reported_cost_usd", sa.Numeric(20, 10)),
        sa.Column("feature", sa.String),
        sa.Column("feature_default", sa.String),
        sa.Column("session_id", sa.String),
        sa.Column("user_id", sa.String),
        sa.Column("tenant_id", sa.String),
        sa.Column("environment", sa.String),
        sa.Column("agent_name", sa.String),
        sa.Column("attributes", sa.Text),
        sa.Column("resource_attributes", sa.Text),
        sa.Column("events", sa.Text),
        sa.Column("links", sa.Text),
        sa.PrimaryKeyConstraint("trace_id", "span_id", name="pk_spans"),
    )
    op.create_table(
        "model_calls",
        sa.Column("trace_id", sa.LargeBinary, nullable=False),
        sa.Column("span_id", sa.LargeBinary, nullable=False),
        sa.Column("start_time", sa.DateTime, nullable=False),
        sa.Column("feature", sa.String),
        sa.Column("session_id", sa.String),
        sa.Column("user_id", sa.String),
        sa.Column("tenant_id", sa.String),
        sa.Column("environment", sa.String),
        sa.Column("agent_name", sa.String),
        sa.Column("attributed_batch_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("trace_id", "span_id", name="pk_model_calls"),
    )
    op.create_table(
        "job_state",
        sa.Column("name", sa.String, nullable=False),
        sa.Column("watermark", sa.BigInteger, nullable=False),
        sa.Column("last_run_at", sa.DateTime),
        sa.Column("last_rows", sa.BigInteger, nullable=False),
        sa.Column("total_rows", sa.BigInteger, nullable=False),
        sa.Column("runs", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("name", name="pk_job_state"),
    )


def downgrade() -> None:
    op.drop_table("job_state")
    op.drop_table("model_calls")
    op.drop_table("spans")
