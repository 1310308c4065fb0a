"""Rollups: store the unique ids and the DECIMAL(38, 24) money columns uncompressed.

Writing the rollups is a large share of a full rebuild (docs/benchmarks.md): DuckDB
analyses every column it writes for each compression method it could use. For the ids that
are nearly unique per row (trace, session and user ids: FSST saves little on them) and the
HUGEINT-backed money columns (bit-packing saves a third at most), the analysis cost more
CPU than the space was worth: storing them uncompressed cut writing the trace rows by ~40%.
The low-cardinality dimensions (feature, model, tenant, ...) keep DuckDB's choice
(dictionary), which pays for itself.

DuckDB sets a column's compression at CREATE TABLE only, so each table is recreated with
its rows; each column changed carries a comment saying so (`duckdb_columns()`), as the
catalog shows no compression. Downgrading recreates the tables with DuckDB's choice.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

from migrations.tables import rebuild_as_is

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MONEY = ("cost_usd", "cache_savings_usd")
UNCOMPRESSED = {
    "rollup_hourly": MONEY,
    "rollup_daily": MONEY,
    "rollup_feature_daily": MONEY,
    "rollup_sessions": ("session_id", "user_id", *MONEY),
    "rollup_traces": ("trace_id", "session_id", "user_id", *MONEY),
    "rollup_users": ("user_id", *MONEY),
}
COMMENT = "stored uncompressed (migration 0012)"


def upgrade() -> None:
    for table, columns in UNCOMPRESSED.items():
        rebuild_as_is(table, uncompressed=columns)
        for name in columns:
            op.execute(f"COMMENT ON COLUMN {table}.{name} IS '{COMMENT}'")


def downgrade() -> None:
    for table in UNCOMPRESSED:
        rebuild_as_is(table)
