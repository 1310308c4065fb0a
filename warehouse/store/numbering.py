"""Sequences on either backend: `next_values(cursor, sequence, count)`.

The embedded file has DuckDB sequences. A lake has none (`warehouse.store.lake_ddl`): there
each sequence is a row of the table `store_sequences` (made by the migrations' CREATE
SEQUENCE, translated), advanced inside the caller's transaction, so a rolled-back
transaction gives its numbers back and two transactions that draw from one sequence at once
conflict (the later commit fails and is retried) rather than draw the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

LAKE_TABLE = "store_sequences"
LAKE_CATALOG = "lake"  # warehouse.store.lake.CATALOG


def on_lake(cursor: duckdb.DuckDBPyConnection) -> bool:
    row = cursor.execute("SELECT current_database()").fetchone()
    return row is not None and row[0] == LAKE_CATALOG


def next_values(cursor: duckdb.DuckDBPyConnection, sequence: str, count: int = 1) -> list[int]:
    """`count` new numbers of `sequence` (a trusted name), ascending."""
    if count <= 0:
        return []
    if not on_lake(cursor):
        rows = cursor.execute(f"SELECT nextval('{sequence}') FROM range(?)", [count]).fetchall()
        return sorted(int(row[0]) for row in rows)
    row = cursor.execute(
        f"UPDATE {LAKE_TABLE} SET value = value + ? WHERE name = ?", [count, sequence]
    ).fetchone()
    if not row or row[0] != 1:
        raise LookupError(f"the lake has no sequence {sequence}")
    last = cursor.execute(f"SELECT value FROM {LAKE_TABLE} WHERE name = ?", [sequence]).fetchone()
    assert last is not None
    return list(range(int(last[0]) - count + 1, int(last[0]) + 1))


def insert_numbered(
    cursor: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> list[int]:
    """Insert `rows` (values in `columns` order) into `table`, each with an `id` drawn from
    `<table>_id_seq`; returns the ids, in the rows' order. (The embedded file would fill the
    id by its column default; a lake has none, so the id is always given.)"""
    ids = next_values(cursor, f"{table}_id_seq", len(rows))
    statement = (
        f"INSERT INTO {table} (id, {', '.join(columns)}) "
        f"VALUES ({', '.join(['?'] * (len(columns) + 1))})"
    )
    if len(rows) == 1:
        cursor.execute(statement, [ids[0], *rows[0]])
    elif rows:
        cursor.executemany(statement, [[i, *row] for i, row in zip(ids, rows, strict=True)])
    return ids


def insert_numbered_select(
    cursor: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    select: str,
    count: int,
) -> list[int]:
    """Insert the `count` rows of the query `select` (its columns: `columns`, in order) into
    `table`, numbered from `<table>_id_seq`; returns the ids drawn."""
    ids = next_values(cursor, f"{table}_id_seq", count)
    if ids:
        cursor.execute(
            f"INSERT INTO {table} (id, {', '.join(columns)}) "
            f"SELECT {ids[0] - 1} + row_number() OVER (), * FROM ({select})"
        )
    return ids
