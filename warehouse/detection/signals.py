"""Alert signals: the one interface between the detectors and the alert lifecycle.

A detector (spend anomalies, runaway sessions, budgets) runs, finds the series that are
firing now and records one `Signal` for each; a quiet series records nothing. The alert
lifecycle reads the signals recorded after its watermark and turns them into incidents: one
incident per (kind, series, direction), opened by the first signal, updated by the next ones,
resolved once no signal has arrived for a while.

`series` is a stable key naming what is watched (for example
`spend:hour:feature=search|model=gpt-4o`, `session:tenant=acme:3f2a...`,
`budget:tenant=acme:month`); it is what deduplicates incidents, so a detector must spell one
series the same way on every run.
`impact_usd` is the projected dollar impact, from which the lifecycle derives the severity.
`details` is JSON-serializable: the dimensions and the detector's explanation.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import duckdb
import pyarrow as pa

from warehouse.store.numbering import insert_numbered_select
from warehouse.store.staging import MONEY_TEXT, staged

Kind = Literal["spend_anomaly", "runaway_session", "budget", "reconciliation_gap"]
Direction = Literal["up", "down"]

# The recorded columns, as staged for one INSERT; money travels as decimal text.
_TYPES = {
    "kind": pa.string(), "series": pa.string(), "direction": pa.string(),
    "detected_at": pa.timestamp("us"), "window_start": pa.timestamp("us"),
    "window_end": pa.timestamp("us"), "actual_usd": MONEY_TEXT, "expected_usd": MONEY_TEXT,
    "impact_usd": MONEY_TEXT, "score": pa.float64(), "tenant_id": pa.string(),
    "title": pa.string(), "details": pa.string(),
}  # fmt: skip
_MONEY = ("actual_usd", "expected_usd", "impact_usd")
_COLUMNS = tuple(_TYPES)


@dataclass(frozen=True)
class Signal:
    kind: Kind
    series: str
    direction: Direction
    detected_at: dt.datetime  # when the detector ran (naive UTC)
    window_start: dt.datetime  # the period the figures describe
    window_end: dt.datetime
    actual_usd: Decimal
    expected_usd: Decimal
    impact_usd: Decimal
    score: float
    title: str  # one line a human reads in Slack or a page
    tenant_id: str | None = None  # set when the series belongs to one tenant
    details: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None  # assigned when recorded


def record_signals(cursor: duckdb.DuckDBPyConnection, signals: Iterable[Signal]) -> int:
    """Append signals (in the caller's transaction); returns how many."""
    rows = [
        (
            s.kind, s.series, s.direction, s.detected_at, s.window_start, s.window_end,
            str(s.actual_usd), str(s.expected_usd), str(s.impact_usd), s.score, s.tenant_id,
            s.title, json.dumps(s.details, sort_keys=True, default=str),
        )
        for s in signals
    ]  # fmt: skip
    if rows:
        values = ", ".join(
            f"CAST({column} AS DECIMAL(38, 12))" if column in _MONEY else column
            for column in _TYPES
        )
        with staged(cursor, "staged_signals", _TYPES, rows):
            insert_numbered_select(
                cursor,
                "alert_signals",
                tuple(_TYPES),
                f"SELECT {values} FROM staged_signals",
                len(rows),
            )
    return len(rows)


def signals_between(cursor: duckdb.DuckDBPyConnection, low: int, high: int) -> list[Signal]:
    """The signals with low < id <= high, oldest first."""
    rows = cursor.execute(
        f"SELECT id, {', '.join(_COLUMNS)} FROM alert_signals WHERE id > ? AND id <= ? ORDER BY id",
        [low, high],
    ).fetchall()
    return [
        Signal(
            id=row[0], kind=row[1], series=row[2], direction=row[3], detected_at=row[4],
            window_start=row[5], window_end=row[6], actual_usd=row[7], expected_usd=row[8],
            impact_usd=row[9], score=row[10], tenant_id=row[11], title=row[12],
            details=json.loads(row[13]),
        )
        for row in rows
    ]  # fmt: skip


def last_signal_id(cursor: duckdb.DuckDBPyConnection) -> int:
    """The highest signal id recorded: the `source` of the alert lifecycle job."""
    row = cursor.execute("SELECT coalesce(max(id), 0) FROM alert_signals").fetchone()
    return int(row[0]) if row else 0
