"""Rows that mirror a file's entries (the price file's price overrides and GPU prices): kept
equal to the file on each load, the rows of unchanged entries left as they are."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Literal, TypeVar

import duckdb

FileTable = Literal["price_overrides", "gpu_prices"]  # the tables with rows from a file
Key = TypeVar("Key", bound=Hashable)
Entry = TypeVar("Entry")


def sync_file_rows(
    cursor: duckdb.DuckDBPyConnection,
    table: FileTable,
    stored: Mapping[Key, object],
    wanted: Mapping[Key, Entry],
    add: Callable[[Entry], object],
) -> tuple[int, int]:
    """Deletes the rows of `table` (`stored`: identity -> id) whose identity the file no
    longer has and `add`s the file's entries (`wanted`: identity -> entry) not stored yet.
    Returns (added, removed)."""
    removed = [row_id for identity, row_id in stored.items() if identity not in wanted]
    for row_id in removed:
        cursor.execute(f"DELETE FROM {table} WHERE id = ?", [row_id])
    added = [entry for identity, entry in wanted.items() if identity not in stored]
    for entry in added:
        add(entry)
    return len(added), len(removed)
