"""Overrides with an end date and tiers; catalogs the user supplies.

`price_overrides` gains `effective_until` (exclusive end; NULL: none) and `tiers` (JSON: each
tier's `start` in input tokens and its prices). `price_catalogs` keeps the genai-prices data
files supplied by path or URL (the one in force, and the rejected ones with their errors).
Existing overrides keep their meaning (no end, no tiers). Downgrading drops both.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.columns import create_numbered_table, drop_numbered_table

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("price_overrides", sa.Column("effective_until", sa.DateTime))
    op.add_column("price_overrides", sa.Column("tiers", sa.Text))
    create_numbered_table(
        "price_catalogs",
        sa.Column("source", sa.String, nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("accepted", sa.Boolean, nullable=False),
        sa.Column("sha256", sa.String),
        sa.Column("modified_at", sa.DateTime),
        sa.Column("providers", sa.BigInteger),
        sa.Column("models", sa.BigInteger),
        sa.Column("data", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("loaded_at", sa.DateTime, nullable=False),
        sa.Column("retired_at", sa.DateTime),
        sa.CheckConstraint("source IN ('file', 'url')", name="ck_price_catalogs_source"),
    )


def downgrade() -> None:
    drop_numbered_table("price_catalogs")
    op.drop_column("price_overrides", "tiers")
    op.drop_column("price_overrides", "effective_until")
