"""The hand-written migrations: every revision walks up and down cleanly, and the migrated
schema is the one the SQLAlchemy models in `warehouse.store.schema` describe.

duckdb-engine cannot reflect on SQLAlchemy 2.1, so the database is read through DuckDB's
own catalog (`information_schema.columns`, `duckdb_constraints()`, `duckdb_sequences()`).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    DefaultClause,
    Double,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    Sequence,
    SmallInteger,
    String,
    Time,
)
from sqlalchemy.types import TypeEngine

from warehouse.store import migrate, schema
from warehouse.store.schema import Base

Snapshot = dict[str, Any]


def revisions(path: Path) -> list[str]:
    """Revision ids from the first to the head; the history must be one straight line."""
    script = ScriptDirectory.from_config(migrate.alembic_config(path))
    assert len(script.get_heads()) == 1, "migrations have more than one head"
    ordered = [r.revision for r in script.walk_revisions()][::-1]
    for previous, revision in zip([None, *ordered], ordered, strict=False):
        assert script.get_revision(revision).down_revision == previous
    return ordered


def snapshot(path: Path) -> Snapshot:
    """What the database holds, as DuckDB's catalog describes it."""
    with duckdb.connect(str(path), read_only=True) as conn:

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return conn.execute(sql).fetchall()

        return {
            "columns": rows(
                "SELECT table_name, column_name, ordinal_position, data_type, is_nullable,"
                " column_default FROM information_schema.columns"
                " WHERE table_schema = 'main' ORDER BY ALL"
            ),
            "constraints": rows(
                "SELECT table_name, constraint_type, constraint_column_names, expression"
                " FROM duckdb_constraints() WHERE schema_name = 'main' ORDER BY ALL"
            ),
            "indexes": rows(
                "SELECT table_name, index_name, sql FROM duckdb_indexes()"
                " WHERE schema_name = 'main' ORDER BY ALL"
            ),
            "sequences": rows(
                "SELECT sequence_name FROM duckdb_sequences()"
                " WHERE schema_name = 'main' ORDER BY ALL"
            ),
            # The catalog shows no column's compression: migrations that set one say so in
            # a comment (0012).
            "comments": rows(
                "SELECT table_name, column_name, comment FROM duckdb_columns()"
                " WHERE schema_name = 'main' AND comment IS NOT NULL ORDER BY ALL"
            ),
            "version": rows("SELECT version_num FROM alembic_version"),
        }


def tables(shot: Snapshot) -> set[str]:
    return {row[0] for row in shot["columns"]} - {"alembic_version"}


def test_every_migration_walks_up_and_down(tmp_path: Path) -> None:
    path = tmp_path / "spendscope.duckdb"
    ordered = revisions(path)
    migrate.upgrade(path, "base")
    up: dict[str | None, Snapshot] = {None: snapshot(path)}
    assert tables(up[None]) == set() and up[None]["sequences"] == []

    previous: str | None = None
    for revision in ordered:
        migrate.upgrade(path, revision)
        up[revision] = snapshot(path)
        assert up[revision]["version"] == [(revision,)]
        assert tables(up[revision]) > tables(up[previous]) or (up[revision] != up[previous]), (
            f"{revision} changes nothing"
        )
        # Each step also goes down to exactly where it started, and up again.
        migrate.downgrade(path, previous or "base")
        assert snapshot(path) == up[previous], f"downgrade of {revision} leaves changes behind"
        migrate.upgrade(path, revision)
        assert snapshot(path) == up[revision], f"{revision} is not repeatable"
        previous = revision

    # The whole way down, one step at a time, then the whole way up in one go.
    for revision, below in zip(ordered[::-1], [*ordered[-2::-1], None], strict=True):
        assert snapshot(path)["version"] == [(revision,)]
        migrate.downgrade(path, below or "base")
        assert snapshot(path) == up[below]
    migrate.upgrade(path)
    assert snapshot(path) == up[ordered[-1]]


def test_downgrading_later_revisions_keeps_the_spans(tmp_path: Path) -> None:
    path = tmp_path / "spendscope.duckdb"
    first = revisions(path)[0]
    migrate.upgrade(path)
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "INSERT INTO spans (trace_id, span_id, batch_id, received_at, start_time, end_time,"
            " duration_ms, name, kind, status_code, is_model_call, is_usage_rollup)"
            " VALUES ('\\x01'::BLOB, '\\x02'::BLOB, 1, $t, $t, $t, 0, 'x', 0, 0, true, false)",
            {"t": dt.datetime(2025, 1, 1)},
        )
    migrate.downgrade(path, first)
    migrate.upgrade(path)
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute("SELECT name FROM spans").fetchall() == [("x",)]


def test_the_rollups_unique_ids_and_money_are_stored_uncompressed(tmp_path: Path) -> None:
    """Migration 0012: the columns commented so are written without compression (DuckDB
    would pick FSST for the ids and bit-packing for the money) and the others are not."""
    path = tmp_path / "spendscope.duckdb"
    migrate.upgrade(path)
    with duckdb.connect(str(path)) as conn:
        commented = {
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = 'rollup_traces'"
                " AND comment LIKE 'stored uncompressed%'"
            ).fetchall()
        }
        assert commented == {"trace_id", "session_id", "user_id", "cost_usd", "cache_savings_usd"}
        conn.execute(
            """
            INSERT INTO rollup_traces
            SELECT unhex(printf('%032x', i)), 'session-' || i // 4, 'user-' || i % 5000,
                   'tenant-' || i % 7, DATE '2026-11-01', 'feature-' || i % 40, 'prod',
                   1, 0, 0, 100, 10, 0, 0, 0, (i * 0.000001234)::DECIMAL(38, 24), NULL,
                   (i * 0.0000005)::DECIMAL(38, 24), TIMESTAMP '2026-11-01', TIMESTAMP '2026-11-01'
            FROM range(200000) t(i)
            """
        )
        conn.execute("CHECKPOINT")
        stored = dict(
            conn.execute(
                "SELECT column_name, string_agg(DISTINCT compression, ',')"
                " FROM pragma_storage_info('rollup_traces') WHERE segment_type <> 'VALIDITY'"
                " GROUP BY column_name"
            ).fetchall()
        )
    assert {name for name, kind in stored.items() if kind == "Uncompressed"} == commented


# --- the migrated schema against the models ------------------------------------------------

# DuckDB's name for each SQLAlchemy type, most specific class first.
DUCKDB_TYPES: list[tuple[type[TypeEngine[Any]], str]] = [
    (LargeBinary, "BLOB"),
    (BigInteger, "BIGINT"),
    (SmallInteger, "SMALLINT"),
    (Integer, "INTEGER"),
    (Boolean, "BOOLEAN"),
    (Double, "DOUBLE"),
    (Float, "FLOAT"),
    (Time, "TIME"),
    (Date, "DATE"),
    (JSON, "JSON"),
    (String, "VARCHAR"),  # Text too
]


def duckdb_type(column: Column[Any]) -> str:
    kind = column.type
    if isinstance(kind, DateTime):
        return "TIMESTAMP WITH TIME ZONE" if kind.timezone else "TIMESTAMP"
    if isinstance(kind, Numeric) and not isinstance(kind, Float):
        return f"DECIMAL({kind.precision},{kind.scale})"
    for sqlalchemy_type, name in DUCKDB_TYPES:
        if isinstance(kind, sqlalchemy_type):
            return name
    raise AssertionError(f"{column}: no DuckDB type known for {kind!r}; extend DUCKDB_TYPES")


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    path = tmp_path_factory.mktemp("migrated") / "spendscope.duckdb"
    migrate.upgrade(path)
    return snapshot(path)


def test_the_migrations_create_exactly_the_modelled_tables(migrated: Snapshot) -> None:
    assert tables(migrated) == set(Base.metadata.tables)


@pytest.mark.parametrize("table", sorted(Base.metadata.tables))
def test_columns_match_the_model(table: str, migrated: Snapshot) -> None:
    model = Base.metadata.tables[table]
    actual = {
        name: (data_type, nullable == "YES")
        for t, name, _, data_type, nullable, _ in migrated["columns"]
        if t == table
    }
    expected = {
        column.name: (duckdb_type(column), bool(column.nullable)) for column in model.columns
    }
    assert actual == expected


@pytest.mark.parametrize("table", sorted(Base.metadata.tables))
def test_keys_defaults_and_checks_match_the_model(table: str, migrated: Snapshot) -> None:
    model = Base.metadata.tables[table]
    primary = [
        columns
        for t, kind, columns, _ in migrated["constraints"]
        if t == table and kind == "PRIMARY KEY"
    ]
    key = [c.name for c in model.primary_key.columns]
    assert primary == ([key] if key else [])

    defaults = {
        name: default
        for t, name, _, _, _, default in migrated["columns"]
        if t == table and default is not None
    }
    expected_defaults = {
        c.name: str(c.server_default.arg)
        for c in model.columns
        if isinstance(c.server_default, DefaultClause)
    }
    assert defaults == expected_defaults

    checks = sorted(
        squeeze(expression)
        for t, kind, _, expression in migrated["constraints"]
        if t == table and kind == "CHECK"
    )
    model_checks = sorted(
        squeeze(str(c.sqltext)) for c in model.constraints if isinstance(c, CheckConstraint)
    )
    assert checks == model_checks


def squeeze(sql: str) -> str:
    """A CHECK expression compared loosely: DuckDB re-renders it with its own quoting."""
    return re.sub(r'[\s()"]', "", sql).lower()


def test_sequences_match_the_model(migrated: Snapshot) -> None:
    """Sequences of key columns, and those the schema module declares on their own."""
    modelled = {value.name for value in vars(schema).values() if isinstance(value, Sequence)}
    modelled |= {
        c.default.name
        for table in Base.metadata.tables.values()
        for c in table.columns
        if isinstance(c.default, Sequence)
    }
    assert {name for (name,) in migrated["sequences"]} == modelled
