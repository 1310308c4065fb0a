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


def _rebuild(table: str, uncompressed: tuple[str, ...]) -> None:
    """Recreate `table` with its columns and rows as they are, `uncompressed` ones
    stored without compression (and commented so)."""
    bind = op.get_bind()
    columns = bind.exec_driver_sql(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    definitions = [
        f'"{name}" {data_type}'
        + (" USING COMPRESSION uncompressed" if name in uncompressed else "")
        + (" NOT NULL" if nullable == "NO" else "")
        for name, data_type, nullable in columns
    ]
    op.execute(f"CREATE TABLE {table}_rebuilt ({', '.join(definitions)})")
    op.execute(f"INSERT INTO {table}_rebuilt SELECT * FROM {table}")
    op.drop_table(table)
    op.rename_table(f"{table}_rebuilt", table)
    for name in uncompressed:
        op.execute(f"COMMENT ON COLUMN {table}.{name} IS '{COMMENT}'")


def upgrade() -> None:
    for table, columns in UNCOMPRESSED.items():
        _rebuild(table, columns)


def downgrade() -> None:
    for table in UNCOMPRESSED:
        _rebuild(table, ())
