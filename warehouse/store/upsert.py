"""Upserts in the one form both backends run: MERGE on the key.

The embedded file enforces its primary keys, so `INSERT OR REPLACE` and `ON CONFLICT` work
there; a lake has no keys to conflict on (`warehouse.store.lake_ddl`). MERGE names its key
itself, so the same statement replaces a row by key on either.
"""

from __future__ import annotations

from collections.abc import Sequence


def replace_into(table: str, keys: Sequence[str], source: str) -> str:
    """`INSERT OR REPLACE INTO table <source>` as a MERGE: `source` is a query whose columns
    are the table's, in its order (as INSERT OR REPLACE takes them), `keys` among them named
    as in the table. Returns the statement (trusted identifiers and SQL only)."""
    return (
        f"MERGE INTO {table} USING ({source}) AS new USING ({', '.join(keys)}) "
        "WHEN MATCHED THEN UPDATE WHEN NOT MATCHED THEN INSERT"
    )


def insert_new(table: str, keys: Sequence[str], columns: Sequence[str], select: str) -> str:
    """`INSERT OR IGNORE INTO table (columns) <select>` for a lake, which has no key to
    ignore on: the rows of `select` (its columns: `columns`, in order) whose `keys` are not
    stored yet, one per key. (Two nodes inserting one key at the same moment may both store
    it: the tables written this way are read by key.)"""
    names = ", ".join(columns)
    match = " AND ".join(f"stored.{key} IS NOT DISTINCT FROM new.{key}" for key in keys)
    return (
        f"INSERT INTO {table} ({names}) SELECT {names} FROM ({select}) AS new({names}) "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} stored WHERE {match}) "
        f"QUALIFY row_number() OVER (PARTITION BY {', '.join(f'new.{k}' for k in keys)}) = 1"
    )
