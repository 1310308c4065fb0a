"""The alert outbox: what must be sent to which channel, and the log of every attempt.

The lifecycle job (`warehouse.incidents.lifecycle`) adds notices in the transaction that changes the
incident, so a crash never loses an alert decision nor makes it twice. The dispatcher
(`collector.alerting.dispatcher`) takes the due rows, one per (incident, channel) at a time and in
order, so a resolve never overtakes its trigger; it records each attempt (`record_attempt`)
and a row leaves `pending` only when sent or refused for good. An attempt that timed out
after its request was sent may have been delivered: `due` counts those per row (`unanswered`)
from the delivery log, so their bound holds across restarts.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import duckdb
import pyarrow as pa

from warehouse.store.numbering import insert_numbered, insert_numbered_select
from warehouse.store.staging import staged
from warehouse.store.transaction import transaction

Event = Literal["trigger", "resolve", "acknowledge"]
Outcome = Literal["sent", "retry", "failed"]
# Errors (their first word, before ":") of attempts that sent the request and got no answer.
UNANSWERED = ("ReadTimeout", "WriteTimeout")


@dataclass(frozen=True)
class Notice:
    """One decision: send `event` of an incident to `channel` (or record it as suppressed)."""

    incident_id: int
    channel: str
    event: Event
    severity: str
    snapshot: dict[str, Any]
    suppressed: str | None = None  # why it is recorded but not sent (a mute, an ack)


@dataclass(frozen=True)
class OutboxItem:
    id: int
    incident_id: int
    channel: str
    event: Event
    severity: str
    snapshot: dict[str, Any]
    attempts: int
    unanswered: int = 0  # attempts that timed out after sending: each may have been delivered


def add_notices(
    cursor: duckdb.DuckDBPyConnection, notices: Iterable[Notice], now: dt.datetime
) -> int:
    """Append notices to the outbox (in the caller's transaction); returns how many."""
    at = now.replace(tzinfo=None)
    rows = [
        (
            n.incident_id, n.channel, n.event, n.severity,
            "suppressed" if n.suppressed else "pending", n.suppressed,
            json.dumps(n.snapshot, sort_keys=True, default=str), at, 0, at,
        )
        for n in notices
    ]  # fmt: skip
    if rows:
        with staged(cursor, "staged_notices", _NOTICE_TYPES, rows):
            insert_numbered_select(
                cursor,
                "alert_outbox",
                tuple(_NOTICE_TYPES),
                "SELECT * FROM staged_notices",
                len(rows),
            )
    return len(rows)


_NOTICE_TYPES = {
    "incident_id": pa.int64(), "channel": pa.string(), "event": pa.string(),
    "severity": pa.string(), "status": pa.string(), "note": pa.string(),
    "snapshot": pa.string(), "created_at": pa.timestamp("us"), "attempts": pa.int32(),
    "next_attempt_at": pa.timestamp("us"),
}  # fmt: skip


def due(
    cursor: duckdb.DuckDBPyConnection, now: dt.datetime, channels: Iterable[str]
) -> list[OutboxItem]:
    """The rows to send now: for each (incident, channel), its oldest pending row, if its next
    attempt is due. Oldest first."""
    wanted = list(channels)
    if not wanted:
        return []
    rows = cursor.execute(
        """
        SELECT id, incident_id, channel, event, severity, snapshot, attempts, next_attempt_at,
            (SELECT count(*) FROM alert_deliveries d
             WHERE d.outbox_id = o.id AND d.outcome = 'retry'
                AND list_contains($unanswered, split_part(d.error, ':', 1)))
        FROM alert_outbox o
        WHERE status = 'pending' AND list_contains($channels, channel)
        QUALIFY row_number() OVER (PARTITION BY incident_id, channel ORDER BY id) = 1
        ORDER BY id
        """,
        {"channels": wanted, "unanswered": list(UNANSWERED)},
    ).fetchall()
    at = now.replace(tzinfo=None)
    return [
        OutboxItem(
            id=r[0], incident_id=r[1], channel=r[2], event=r[3], severity=r[4],
            snapshot=json.loads(r[5]), attempts=r[6], unanswered=r[8],
        )
        for r in rows
        if r[6] == 0 or r[7] <= at  # a first attempt is due at once, whatever the clocks say
    ]  # fmt: skip


def claim(cursor: duckdb.DuckDBPyConnection, item: OutboxItem, now: dt.datetime) -> bool:
    """Take `item` for one attempt, committed before it is sent: False when it is no longer
    the pending row `due` read (sent or moved on meanwhile) or another node claimed it at
    the same moment (on a lake, the second of two updates of the row fails to commit). Two
    job-runner nodes that overlap at a change of leader so never both send a notice."""
    try:
        with transaction(cursor):
            row = cursor.execute(
                "UPDATE alert_outbox SET last_attempt_at = ? "
                "WHERE id = ? AND status = 'pending' AND attempts = ?",
                [now.replace(tzinfo=None), item.id, item.attempts],
            ).fetchone()
    except duckdb.TransactionException:
        return False
    return bool(row and row[0])


@dataclass(frozen=True)
class Attempt:
    started_at: dt.datetime
    duration_ms: float
    outcome: Outcome
    status_code: int | None = None
    error: str | None = None  # already free of secrets
    next_attempt_at: dt.datetime | None = None  # for a retry


def record_attempt(cursor: duckdb.DuckDBPyConnection, item: OutboxItem, attempt: Attempt) -> None:
    """Log the attempt and move the outbox row on, in one transaction."""
    started = attempt.started_at.replace(tzinfo=None)
    retry_at = attempt.next_attempt_at.replace(tzinfo=None) if attempt.next_attempt_at else None
    status = {"sent": "sent", "failed": "failed", "retry": "pending"}[attempt.outcome]
    with transaction(cursor):
        insert_numbered(
            cursor,
            "alert_deliveries",
            ("outbox_id", "incident_id", "channel", "attempt", "started_at", "duration_ms",
             "status_code", "outcome", "error", "next_attempt_at"),
            [[
                item.id, item.incident_id, item.channel, item.attempts + 1, started,
                attempt.duration_ms, attempt.status_code, attempt.outcome, attempt.error, retry_at,
            ]],
        )  # fmt: skip
        cursor.execute(
            """
            UPDATE alert_outbox SET status = ?, attempts = attempts + 1, last_attempt_at = ?,
                sent_at = CASE WHEN ? = 'sent' THEN ? END, last_error = ?,
                next_attempt_at = coalesce(?, next_attempt_at)
            WHERE id = ?
            """,
            [status, started, attempt.outcome, started, attempt.error, retry_at, item.id],
        )


def pending_counts(cursor: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Pending rows per channel (for /metrics)."""
    rows = cursor.execute(
        "SELECT channel, count(*) FROM alert_outbox WHERE status = 'pending' GROUP BY channel"
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}
