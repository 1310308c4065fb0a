"""The price book (overrides, resolved price keys and periods), call costs and the re-pricing
queue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.columns import create_numbered_table, drop_numbered_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _price(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.Numeric(38, 18), nullable=nullable)


def _money(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Numeric(38, 24))


def upgrade() -> None:
    op.execute("CREATE SEQUENCE call_costs_priced_seq START 1")
    create_numbered_table(
        "price_overrides",
        sa.Column("provider", sa.String, nullable=False),
        sa.Column("model_pattern", sa.String, nullable=False),
        sa.Column("match_kind", sa.String, nullable=False),
        _price("input_mtok"),
        _price("cache_read_mtok", nullable=True),
        _price("cache_write_mtok", nullable=True),
        _price("output_mtok"),
        _price("reasoning_mtok", nullable=True),
        sa.Column("effective_from", sa.DateTime, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.CheckConstraint(
            "match_kind IN ('exact', 'glob', 'regex')", name="ck_price_overrides_match_kind"
        ),
        sa.CheckConstraint("source IN ('file', 'api')", name="ck_price_overrides_source"),
    )
    op.create_table(
        "price_keys",
        sa.Column("provider", sa.String, nullable=False),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("catalog_provider", sa.String),
        sa.Column("catalog_model", sa.String),
        sa.Column("book_fingerprint", sa.String, nullable=False),
        sa.Column("resolved_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("provider", "model", name="pk_price_keys"),
    )
    create_numbered_table(
        "price_periods",
        sa.Column("provider", sa.String, nullable=False),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("effective_from", sa.DateTime),
        sa.Column("effective_to", sa.DateTime),
        sa.Column("time_of_day_from", sa.Time),
        sa.Column("time_of_day_to", sa.Time),
        sa.Column("min_input_tokens", sa.BigInteger, nullable=False),
        sa.Column("max_input_tokens", sa.BigInteger),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("override_id", sa.BigInteger),
        sa.Column("catalog_provider", sa.String),
        sa.Column("catalog_model", sa.String),
        _price("input_mtok"),
        _price("cache_read_mtok"),
        _price("cache_write_mtok"),
        _price("output_mtok"),
        _price("reasoning_mtok"),
        _price("requests_kcount"),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("retired_at", sa.DateTime),
        sa.CheckConstraint("source IN ('catalog', 'override')", name="ck_price_periods_source"),
    )
    op.create_table(
        "call_costs",
        sa.Column("trace_id", sa.LargeBinary, nullable=False),
        sa.Column("span_id", sa.LargeBinary, nullable=False),
        sa.Column("start_time", sa.DateTime, nullable=False),
        sa.Column("provider", sa.String, nullable=False),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("priced", sa.Boolean, nullable=False),
        sa.Column("unpriced_reason", sa.String),
        _money("cost_usd"),
        _money("input_cost_usd"),
        _money("cache_read_cost_usd"),
        _money("cache_write_cost_usd"),
        _money("output_cost_usd"),
        _money("request_cost_usd"),
        sa.Column("price_period_id", sa.BigInteger),
        sa.Column("price_source", sa.String),
        sa.Column("override_id", sa.BigInteger),
        sa.Column("reported_cost_usd", sa.Numeric(20, 10)),
        sa.Column("attributed_batch_id", sa.BigInteger, nullable=False),
        sa.Column("priced_seq", sa.BigInteger, nullable=False),
        sa.Column("priced_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("trace_id", "span_id", name="pk_call_costs"),
    )
    create_numbered_table(
        "reprice_requests",
        sa.Column("provider", sa.String, nullable=False),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("from_time", sa.DateTime),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("requested_at", sa.DateTime, nullable=False),
        sa.Column("done_at", sa.DateTime),
        sa.Column("calls_repriced", sa.BigInteger),
    )


def downgrade() -> None:
    drop_numbered_table("reprice_requests")
    op.drop_table("call_costs")
    drop_numbered_table("price_periods")
    op.drop_table("price_keys")
    drop_numbered_table("price_overrides")
    op.execute("DROP SEQUENCE call_costs_priced_seq")
