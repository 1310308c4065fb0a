"""Many rows into DuckDB in one statement: a pyarrow table registered under a name while the
statement runs (`registered`; `staged` builds the table from Python rows first). Row-wise
`executemany` manages only a few hundred rows a second here (see ENV-NOTES), a registered
table hundreds of thousands."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow as pa

# Exact money travels as decimal strings; the statement casts them (never through float).
MONEY_TEXT = pa.string()


@contextmanager
def staged(
    cursor: duckdb.DuckDBPyConnection,
    name: str,
    types: Mapping[str, pa.DataType],
    rows: Sequence[Sequence[Any]],
) -> Iterator[None]:
    """`rows` (in the order of `types`) readable as the table `name` within the block."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in types]
    table = pa.table(
        {
            column: pa.array(values, type=kind)
            for (column, kind), values in zip(types.items(), columns, strict=True)
        }
    )
    with registered(cursor, name, table):
        yield


@contextmanager
def registered(cursor: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """`table` readable as the table `name` within the block, and unregistered after it."""
    cursor.register(name, table)
    try:
        yield
    finally:
        cursor.unregister(name)
