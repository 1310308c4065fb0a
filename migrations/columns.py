"""Column groups and keys that several migrations create alike.

A change here changes what old revisions build: tests/warehouse/store/
test_migration_catalog.py holds every revision to the schema recorded for it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

ROLLUP_COUNTS = (
    "calls", "unpriced_calls", "error_calls", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
)  # fmt: skip


def rollup_measures() -> list[sa.Column[Any]]:
    """The measures every rollup table carries, after its dimensions."""
    return [
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in ROLLUP_COUNTS),
        sa.Column("cost_usd", sa.Numeric(38, 24), nullable=False),
        sa.Column("reported_cost_usd", sa.Numeric(38, 10)),
        sa.Column("cache_savings_usd", sa.Numeric(38, 24), nullable=False),
        sa.Column("first_call_at", sa.DateTime, nullable=False),
        sa.Column("last_call_at", sa.DateTime, nullable=False),
    ]


def sequence_id(sequence: str) -> sa.Column[Any]:
    """An `id` key column numbered by `sequence`."""
    return sa.Column(
        "id", sa.BigInteger, nullable=False, server_default=sa.text(f"nextval('{sequence}')")
    )


def create_numbered_table(table: str, *items: sa.schema.SchemaItem) -> None:
    """Create `table` keyed by an `id` from its own sequence `<table>_id_seq` (created too),
    then `items` (its other columns and constraints)."""
    op.execute(f"CREATE SEQUENCE {table}_id_seq START 1")
    op.create_table(
        table,
        sequence_id(f"{table}_id_seq"),
        *items,
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    )


def drop_numbered_table(table: str) -> None:
    """Drop a table `create_numbered_table` made, and its sequence."""
    op.drop_table(table)
    op.execute(f"DROP SEQUENCE {table}_id_seq")
