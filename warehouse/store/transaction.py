"""One transaction on a cursor: committed when the block ends, rolled back when it raises."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb


@contextmanager
def transaction(cursor: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """`with transaction(cursor):` begins, and commits at the end of the block; anything the
    block (or the commit) raises rolls the transaction back and goes on up."""
    cursor.begin()
    try:
        yield cursor
        cursor.commit()
    except BaseException:
        cursor.rollback()
        raise
