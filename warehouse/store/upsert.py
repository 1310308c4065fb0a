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
