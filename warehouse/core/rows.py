"""Query results as dicts keyed by column name: the one helper behind every read model."""

from __future__ import annotations

from typing import Any

import duckdb


def fetch_dicts(
    cursor: duckdb.DuckDBPyConnection, sql: str, params: Any = None
) -> list[dict[str, Any]]:
    """Run `sql` with `params` and return every row as a dict of column name to value."""
    result = cursor.execute(sql, params)
    return dicts(result)


def dicts(result: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The rows of an executed statement as dicts of column name to value."""
    columns = [column[0] for column in result.description or []]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
