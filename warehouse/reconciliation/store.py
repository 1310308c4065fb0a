"""Storing a parsed bill: all of it in one transaction, or nothing.

`import_bill` records the import and upserts its lines by natural key: a line already held
with the same figures is left alone, one with other figures is replaced (a provider's
report is revised for a few weeks after the day), a new one is added. The same content
(SHA-256) imported again is recognised before anything is written and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import duckdb
import pyarrow as pa

from warehouse.core.rows import fetch_dicts
from warehouse.reconciliation.records import ParsedBill
from warehouse.store.staging import MONEY_TEXT, staged
from warehouse.store.transaction import transaction

_LINE_TYPES = {
    "line_key": pa.string(), "source": pa.string(), "kind": pa.string(),
    "period_start": pa.timestamp("us"), "day": pa.date32(), "provider": pa.string(),
    "model": pa.string(), "project": pa.string(), "api_key": pa.string(), "tier": pa.string(),
    "token_class": pa.string(), "requests": pa.int64(), "input_tokens": pa.int64(),
    "cache_read_tokens": pa.int64(), "cache_write_tokens": pa.int64(),
    "output_tokens": pa.int64(), "cost_usd": MONEY_TEXT,
}  # fmt: skip
_FIGURES = (
    "requests", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
    "cost_usd",
)  # fmt: skip


@dataclass(frozen=True)
class ImportResult:
    import_id: int
    status: Literal["imported", "unchanged"]
    source: str
    format: str
    lines: int  # the bill's lines
    changed_lines: int  # lines added or whose figures changed
    skipped_rows: int
    first_day: dt.date | None
    last_day: dt.date | None
    imported_at: dt.datetime  # naive UTC: of the first import of this content


def _known(cursor: duckdb.DuckDBPyConnection, sha: str) -> ImportResult | None:
    row = cursor.execute(
        "SELECT id, source, format, lines, skipped_rows, first_day, last_day, imported_at"
        " FROM bill_imports WHERE sha256 = ?",
        [sha],
    ).fetchone()
    if row is None:
        return None
    return ImportResult(
        row[0], "unchanged", row[1], row[2], row[3], 0, row[4], row[5], row[6], row[7]
    )


def _stage_rows(bill: ParsedBill) -> list[tuple[Any, ...]]:
    return [
        (
            key, line.source, line.kind, line.period_start, line.day, line.provider, line.model,
            line.project, line.api_key, line.tier, line.token_class, line.requests,
            line.input_tokens, line.cache_read_tokens, line.cache_write_tokens,
            line.output_tokens, None if line.cost_usd is None else str(line.cost_usd),
        )
        for key, line in bill.lines.items()
    ]  # fmt: skip


def import_bill(
    cursor: duckdb.DuckDBPyConnection, bill: ParsedBill, name: str, sha: str, now: dt.datetime
) -> ImportResult:
    """Store `bill` (its content's hash `sha`) in one transaction of its own."""
    days = sorted(day for _, day in bill.days)
    first, last = (days[0], days[-1]) if days else (None, None)
    with transaction(cursor):
        known = _known(cursor, sha)
        if known is not None:
            return known
        row = cursor.execute(
            "INSERT INTO bill_imports (source, format, name, sha256, imported_at, lines,"
            " changed_lines, skipped_rows, first_day, last_day)"
            " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?) RETURNING id",
            [bill.source, bill.format, name, sha, now.replace(tzinfo=None), len(bill.lines),
             bill.skipped_rows, first, last],
        ).fetchone()  # fmt: skip
        assert row is not None
        import_id = int(row[0])
        columns = ", ".join(_LINE_TYPES)
        values = ", ".join(
            "CAST(cost_usd AS DECIMAL(38, 12)) AS cost_usd" if c == "cost_usd" else c
            for c in _LINE_TYPES
        )
        differs = " OR ".join(f"bill_lines.{c} IS DISTINCT FROM excluded.{c}" for c in _FIGURES)
        with staged(cursor, "staged_bill_lines", _LINE_TYPES, _stage_rows(bill)):
            changed = cursor.execute(
                f"""
                SELECT count(*) FROM (SELECT line_key, {values} FROM staged_bill_lines) s
                WHERE NOT EXISTS (
                    SELECT 1 FROM bill_lines b WHERE b.line_key = s.line_key
                    AND {" AND ".join(f"b.{c} IS NOT DISTINCT FROM s.{c}" for c in _FIGURES)})
                """
            ).fetchone()
            cursor.execute(
                f"""
                INSERT INTO bill_lines ({columns}, import_id)
                SELECT {values}, {import_id} FROM staged_bill_lines
                ON CONFLICT (line_key) DO UPDATE SET
                    {", ".join(f"{c} = excluded.{c}" for c in _FIGURES)},
                    import_id = excluded.import_id
                WHERE {differs}
                """
            )
        if bill.days:
            cursor.executemany(
                "INSERT INTO bill_days VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(bill.source, provider, day, import_id) for provider, day in sorted(bill.days)],
            )
        changed_lines = int(changed[0]) if changed else 0
        cursor.execute(
            "UPDATE bill_imports SET changed_lines = ? WHERE id = ?", [changed_lines, import_id]
        )
    return ImportResult(
        import_id, "imported", bill.source, bill.format, len(bill.lines), changed_lines,
        bill.skipped_rows, first, last, now.replace(tzinfo=None),
    )  # fmt: skip


def list_imports(cursor: duckdb.DuckDBPyConnection, limit: int = 100) -> list[dict[str, Any]]:
    """The latest imports, newest first."""
    return fetch_dicts(
        cursor,
        "SELECT id, source, format, name, sha256, imported_at, lines, changed_lines,"
        " skipped_rows, first_day, last_day FROM bill_imports ORDER BY id DESC LIMIT ?",
        [limit],
    )
