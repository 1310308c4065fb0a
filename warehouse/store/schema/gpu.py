"""GPU efficiency (migration 0009; docs/gpu.md): metric points, GPU prices, hourly efficiency and
each call's share of its deployment's GPU cost."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    Integer,
    LargeBinary,
    Numeric,
    Sequence,
    String,
    Table,
    Text,
    text,
)

from warehouse.store.schema.base import Base

# Money here is integer nano-dollars (BIGINT): GPU-hour cost involves division (by 3,600,000
# ms, by a utilization share, over the calls of an hour), which DECIMAL would turn into float.

metric_points = Table(
    "metric_points",
    Base.metadata,
    Column("stream_id", BigInteger, primary_key=True),
    Column("time_unix_nano", BigInteger, primary_key=True),
    Column("time", DateTime, nullable=False),
    Column("start_time", DateTime),
    Column("metric", String, nullable=False),
    Column("signal", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("cumulative", Boolean, nullable=False),
    Column("value", Double, nullable=False),
    Column("count", BigInteger),
    Column("deployment", String),
    Column("gpu_id", String),
    Column("gpu_model", String),
    Column("node_pool", String),
    Column("served_model", String),
    Column("server_address", String),
    Column("token_type", String),
    Column("attributes", Text),
    Column("batch_id", BigInteger, nullable=False),
    Column("received_at", DateTime, nullable=False),
    CheckConstraint("kind IN ('gauge', 'sum', 'histogram')", name="kind"),
)

gpu_prices = Table(
    "gpu_prices",
    Base.metadata,
    Column(
        "id",
        BigInteger,
        Sequence("gpu_prices_id_seq"),
        primary_key=True,
        server_default=text("nextval('gpu_prices_id_seq')"),
    ),
    Column("scope", String, nullable=False),
    Column("match", String, nullable=False),
    Column("pricing", String, nullable=False),
    Column("usd_per_gpu_hour", Numeric(38, 9), nullable=False),
    Column("purchase_usd", Numeric(38, 9)),
    Column("amortization_months", Integer),
    Column("effective_from", DateTime, nullable=False),
    Column("source", String, nullable=False),
    Column("note", Text),
    Column("created_at", DateTime, nullable=False),
    CheckConstraint("scope IN ('gpu_model', 'node_pool', 'deployment')", name="scope"),
    CheckConstraint("pricing IN ('on_demand', 'reserved', 'owned')", name="pricing"),
    CheckConstraint("source IN ('file', 'api')", name="source"),
)

gpu_config = Table(
    "gpu_config",
    Base.metadata,
    Column("name", String, primary_key=True),
    Column("value", Text, nullable=False),
)

gpu_hourly = Table(
    "gpu_hourly",
    Base.metadata,
    Column("hour", DateTime, nullable=False),
    Column("deployment", String),
    Column("gpu_id", String, nullable=False),
    Column("gpu_model", String),
    Column("node_pool", String),
    Column("utilization_source", String, nullable=False),
    Column("gpu_ms", BigInteger, nullable=False),
    Column("busy_ms", BigInteger, nullable=False),
    Column("price_id", BigInteger),
    Column("usd_per_gpu_hour", Numeric(38, 9)),
    Column("cost_nanos", BigInteger),
    Column("idle_cost_nanos", BigInteger),
)

gpu_deployment_hourly = Table(
    "gpu_deployment_hourly",
    Base.metadata,
    Column("hour", DateTime, nullable=False),
    Column("deployment", String),
    Column("gpus", BigInteger, nullable=False),
    Column("gpu_ms", BigInteger, nullable=False),
    Column("busy_ms", BigInteger, nullable=False),
    Column("unpriced_gpu_ms", BigInteger, nullable=False),
    Column("cost_nanos", BigInteger, nullable=False),
    Column("idle_cost_nanos", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("generation_tokens", BigInteger, nullable=False),
    Column("requests_running", Double),
    Column("requests_waiting", Double),
    Column("kv_cache_usage", Double),
)

gpu_endpoints = Table(
    "gpu_endpoints",
    Base.metadata,
    Column("hour", DateTime, nullable=False),
    Column("deployment", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("value", String, nullable=False),
)

gpu_dirty_hours = Table("gpu_dirty_hours", Base.metadata, Column("hour", DateTime, nullable=False))

gpu_call_costs = Table(
    "gpu_call_costs",
    Base.metadata,
    Column("trace_id", LargeBinary, nullable=False),
    Column("span_id", LargeBinary, nullable=False),
    Column("start_time", DateTime, nullable=False),
    Column("hour", DateTime, nullable=False),
    Column("deployment", String, nullable=False),
    Column("matched_by", String, nullable=False),
    Column("weight", BigInteger, nullable=False),
    Column("cost_nanos", BigInteger, nullable=False),
    Column("idle_cost_nanos", BigInteger, nullable=False),
)
