"""GPU efficiency: OTLP metric points, the GPU price book, hourly efficiency and allocation.

`metric_points` holds the recognized data points of OTLP metrics, one row per point, keyed
by (stream_id, time_unix_nano) so a re-sent export stores nothing twice. `gpu_prices` is
the GPU-hour price book (effective-dated, by GPU model, node pool or deployment).
`gpu_hourly` and `gpu_deployment_hourly` are written by the `gpu_efficiency` job,
`gpu_call_costs` by the `gpu_allocation` job (docs/gpu.md). Money is integer nano-dollars.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.columns import create_numbered_table

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = (
    "metric_points", "gpu_prices", "gpu_config", "gpu_hourly", "gpu_deployment_hourly",
    "gpu_endpoints", "gpu_dirty_hours", "gpu_call_costs",
)  # fmt: skip


def _nanos(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.BigInteger, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "metric_points",
        sa.Column("stream_id", sa.BigInteger, nullable=False),
        sa.Column("time_unix_nano", sa.BigInteger, nullable=False),
        sa.Column("time", sa.DateTime, nullable=False),
        sa.Column("start_time", sa.DateTime),
        sa.Column("metric", sa.String, nullable=False),
        sa.Column("signal", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("cumulative", sa.Boolean, nullable=False),
        sa.Column("value", sa.Double, nullable=False),
        sa.Column("count", sa.BigInteger),
        sa.Column("deployment", sa.String),
        sa.Column("gpu_id", sa.String),
        sa.Column("gpu_model", sa.String),
        sa.Column("node_pool", sa.String),
        sa.Column("served_model", sa.String),
        sa.Column("server_address", sa.String),
        sa.Column("token_type", sa.String),
        sa.Column("attributes", sa.Text),
        sa.Column("batch_id", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "time_unix_nano", name="pk_metric_points"),
        sa.CheckConstraint("kind IN ('gauge', 'sum', 'histogram')", name="kind"),
    )
    create_numbered_table(
        "gpu_prices",
        sa.Column("scope", sa.String, nullable=False),
        sa.Column("match", sa.String, nullable=False),
        sa.Column("pricing", sa.String, nullable=False),
        sa.Column("usd_per_gpu_hour", sa.Numeric(38, 9), nullable=False),
        sa.Column("purchase_usd", sa.Numeric(38, 9)),
        sa.Column("amortization_months", sa.Integer),
        sa.Column("effective_from", sa.DateTime, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.CheckConstraint("scope IN ('gpu_model', 'node_pool', 'deployment')", name="scope"),
        sa.CheckConstraint("pricing IN ('on_demand', 'reserved', 'owned')", name="pricing"),
        sa.CheckConstraint("source IN ('file', 'api')", name="source"),
    )
    op.create_table(
        "gpu_config",
        sa.Column("name", sa.String, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_gpu_config"),
    )
    op.create_table(
        "gpu_hourly",
        sa.Column("hour", sa.DateTime, nullable=False),
        sa.Column("deployment", sa.String),
        sa.Column("gpu_id", sa.String, nullable=False),
        sa.Column("gpu_model", sa.String),
        sa.Column("node_pool", sa.String),
        sa.Column("utilization_source", sa.String, nullable=False),
        sa.Column("gpu_ms", sa.BigInteger, nullable=False),
        sa.Column("busy_ms", sa.BigInteger, nullable=False),
        sa.Column("price_id", sa.BigInteger),
        sa.Column("usd_per_gpu_hour", sa.Numeric(38, 9)),
        _nanos("cost_nanos", nullable=True),
        _nanos("idle_cost_nanos", nullable=True),
    )
    op.create_table(
        "gpu_deployment_hourly",
        sa.Column("hour", sa.DateTime, nullable=False),
        sa.Column("deployment", sa.String),
        sa.Column("gpus", sa.BigInteger, nullable=False),
        sa.Column("gpu_ms", sa.BigInteger, nullable=False),
        sa.Column("busy_ms", sa.BigInteger, nullable=False),
        sa.Column("unpriced_gpu_ms", sa.BigInteger, nullable=False),
        _nanos("cost_nanos"),
        _nanos("idle_cost_nanos"),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("generation_tokens", sa.BigInteger, nullable=False),
        sa.Column("requests_running", sa.Double),
        sa.Column("requests_waiting", sa.Double),
        sa.Column("kv_cache_usage", sa.Double),
    )
    op.create_table(
        "gpu_endpoints",
        sa.Column("hour", sa.DateTime, nullable=False),
        sa.Column("deployment", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("value", sa.String, nullable=False),
    )
    op.create_table("gpu_dirty_hours", sa.Column("hour", sa.DateTime, nullable=False))
    op.create_table(
        "gpu_call_costs",
        sa.Column("trace_id", sa.LargeBinary, nullable=False),
        sa.Column("span_id", sa.LargeBinary, nullable=False),
        sa.Column("start_time", sa.DateTime, nullable=False),
        sa.Column("hour", sa.DateTime, nullable=False),
        sa.Column("deployment", sa.String, nullable=False),
        sa.Column("matched_by", sa.String, nullable=False),
        sa.Column("weight", sa.BigInteger, nullable=False),
        _nanos("cost_nanos"),
        _nanos("idle_cost_nanos"),
    )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
    op.execute("DROP SEQUENCE gpu_prices_id_seq")
