"""Rebuilding a table, and the table definitions more than one migration builds.

DuckDB can neither drop nor alter a constraint, nor change a column's compression after
CREATE TABLE: a migration that must do so builds the table again beside the old one, copies
the rows, drops the old one and gives the new one its name.

A change here changes what old revisions build: tests/warehouse/store/
test_migration_catalog.py holds every revision to the schema recorded for it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import sqlalchemy as sa
from alembic import op

from migrations.columns import sequence_id


def rebuild(table: str, create: Callable[[str], None]) -> None:
    """Replace `table` with the table `create(name)` makes, holding the same rows."""
    create(f"{table}_rebuilt")
    op.execute(f"INSERT INTO {table}_rebuilt SELECT * FROM {table}")
    op.drop_table(table)
    op.rename_table(f"{table}_rebuilt", table)


def rebuild_as_is(
    table: str, primary_key: str | None = None, uncompressed: Collection[str] = ()
) -> None:
    """Rebuild `table` with its columns as they are (name, type, NOT NULL), keyed by
    `primary_key` if one is given, and the `uncompressed` columns stored without
    compression."""
    columns = (
        op.get_bind()
        .exec_driver_sql(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        .fetchall()
    )
    definitions = [
        f'"{name}" {data_type}'
        + (" USING COMPRESSION uncompressed" if name in uncompressed else "")
        + (" NOT NULL" if nullable == "NO" else "")
        for name, data_type, nullable in columns
    ]
    if primary_key is not None:
        definitions.append(f"CONSTRAINT pk_{table} PRIMARY KEY ({primary_key})")
    rebuild(table, lambda name: op.execute(f"CREATE TABLE {name} ({', '.join(definitions)})"))


ALERT_MONEY = sa.Numeric(38, 12)


def create_alert_signals(name: str, kinds: str) -> None:
    """`alert_signals` (migration 0006) under `name`, with the signal `kinds` allowed (a SQL
    list of strings); the constraints are named for `alert_signals` whatever `name` is."""
    op.create_table(
        name,
        sequence_id("alert_signals_id_seq"),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("series", sa.String, nullable=False),
        sa.Column("direction", sa.String, nullable=False),
        sa.Column("detected_at", sa.DateTime, nullable=False),
        sa.Column("window_start", sa.DateTime, nullable=False),
        sa.Column("window_end", sa.DateTime, nullable=False),
        sa.Column("actual_usd", ALERT_MONEY, nullable=False),
        sa.Column("expected_usd", ALERT_MONEY, nullable=False),
        sa.Column("impact_usd", ALERT_MONEY, nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("tenant_id", sa.String),
        sa.Column("title", sa.String, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_signals"),
        sa.CheckConstraint(f"kind IN ({kinds})", name="ck_alert_signals_kind"),
        sa.CheckConstraint("direction IN ('up', 'down')", name="ck_alert_signals_direction"),
    )
