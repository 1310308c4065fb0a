"""Quarantine: an input range a job fails on again and again is set aside, not retried forever.

A job works through its input in chunks (low, high]. Before a chunk's step runs, the
job's row in `job_attempts` records the range and raises its count of failures in a row,
in a commit of its own: a process that dies during the step (out of memory, killed) has
counted that attempt when it starts again. The step's own transaction clears the row when
the step succeeds. Errors that say nothing about the input (a write conflict, a full disk,
the interrupt at shutdown) give the count back.

After `after` failures in a row on a range the job narrows it down, one try per range:
it runs the first half; when that half fails it is halved again, when it succeeds the rest
of the failed range gets one try of its own. A single position (an ingest batch, or the
position the job's input counts in) that has failed `after` times is quarantined: recorded
in `job_quarantine` with the error, and the job's watermark moves past it in the same
transaction, so the other jobs and the rest of this job's input are no longer held up.
Bisecting a chunk of 50 batches takes at most about 2 x log2(50) = 12 more tries.

A quarantined range stays visible (`GET /api/v1/jobs`, `/readyz`, `/metrics`) until
`retry` runs it again successfully.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import duckdb

from warehouse.core.rows import fetch_dicts
from warehouse.store.database import Database
from warehouse.store.upsert import replace_into

log = logging.getLogger(__name__)

QUARANTINE_AFTER_FAILURES = 3
# Errors that are about the moment, not the input: they do not count as failures.
TRANSIENT = (duckdb.TransactionException, duckdb.InterruptException, duckdb.IOException)
CRASHED = "no error was recorded: the process ended during each attempt (out of memory, killed)"


@dataclass(frozen=True)
class Attempt:
    """The range (low, high] a job runs next, and what is known about it."""

    low: int
    high: int
    # End of the range known to have failed while it is narrowed down; else `high`.
    suspect_high: int
    # Failures in a row on this range before this attempt.
    failures: int
    # Set when this range is to be quarantined instead of run.
    quarantine: bool = False
    # The stored row before this attempt, given back when the attempt's error is transient.
    previous: tuple[Any, ...] | None = None

    @property
    def narrowing(self) -> bool:
        return self.suspect_high > self.high


def _stored(cursor: duckdb.DuckDBPyConnection, name: str) -> tuple[Any, ...] | None:
    return cursor.execute(
        "SELECT low, high, suspect_high, failures, last_error FROM job_attempts WHERE name = ?",
        [name],
    ).fetchone()


def plan(cursor: duckdb.DuckDBPyConnection, name: str, low: int, upper: int, after: int) -> Attempt:
    """The next range to run from the watermark `low`, at most up to `upper`."""
    row = _stored(cursor, name)
    if row is None or row[0] != low:  # nothing failed here (a stale row is overwritten)
        return Attempt(low, upper, upper, 0, previous=row)
    _, failed_high, _, failures, _ = row
    upper = min(upper, int(failed_high))
    if failures < after:
        return Attempt(low, upper, upper, int(failures), previous=row)
    if upper - low <= 1:
        return Attempt(low, upper, upper, int(failures), quarantine=True, previous=row)
    return Attempt(low, low + (upper - low) // 2, upper, int(failures), previous=row)


def begin(cursor: duckdb.DuckDBPyConnection, name: str, attempt: Attempt) -> None:
    """Count the attempt as a failure until it succeeds; commits on its own."""
    cursor.execute(
        replace_into(
            "job_attempts",
            ("name",),
            """
            SELECT $name AS name, $low::BIGINT AS low, $high::BIGINT AS high,
                   $suspect_high::BIGINT AS suspect_high, $failures::BIGINT AS failures,
                   (SELECT last_error FROM job_attempts WHERE name = $name AND low = $low)
                       AS last_error
            """,
        ),
        {
            "name": name,
            "low": attempt.low,
            "high": attempt.high,
            "suspect_high": attempt.suspect_high,
            "failures": attempt.failures + 1,
        },
    )


def succeeded(cursor: duckdb.DuckDBPyConnection, name: str, attempt: Attempt, after: int) -> None:
    """In the step's transaction: clear the count; while narrowing a range down, the rest
    of it gets one try of its own (one failure short of being narrowed further)."""
    if not attempt.narrowing:
        cursor.execute("DELETE FROM job_attempts WHERE name = ?", [name])
        return
    cursor.execute(
        "UPDATE job_attempts SET low = $low, high = $high, suspect_high = $high,"
        " failures = $failures WHERE name = $name",
        {
            "name": name,
            "low": attempt.high,
            "high": attempt.suspect_high,
            "failures": max(after - 1, 0),
        },
    )


def failed(
    cursor: duckdb.DuckDBPyConnection, name: str, attempt: Attempt, exc: BaseException
) -> None:
    """After the step's transaction was rolled back: keep the error with the count, or give
    the count back when the error is transient."""
    if isinstance(exc, TRANSIENT):
        if attempt.previous is None:
            cursor.execute("DELETE FROM job_attempts WHERE name = ?", [name])
        else:
            low, high, suspect_high, failures, error = attempt.previous
            cursor.execute(
                "UPDATE job_attempts SET low = ?, high = ?, suspect_high = ?, failures = ?,"
                " last_error = ? WHERE name = ?",
                [low, high, suspect_high, failures, error, name],
            )
        return
    cursor.execute(
        "UPDATE job_attempts SET last_error = ? WHERE name = ?",
        [f"{type(exc).__name__}: {exc}", name],
    )


def quarantine(
    cursor: duckdb.DuckDBPyConnection, name: str, attempt: Attempt, now: dt.datetime
) -> None:
    """In the caller's transaction (which also moves the watermark past the range)."""
    error = attempt.previous[4] if attempt.previous is not None else None
    cursor.execute(
        replace_into(
            "job_quarantine",
            ("name", "low"),
            "SELECT ?::VARCHAR AS name, ?::BIGINT AS low, ?::BIGINT AS high, "
            "?::BIGINT AS failures, ?::VARCHAR AS error, ?::TIMESTAMP AS quarantined_at",
        ),
        [
            name,
            attempt.low,
            attempt.high,
            attempt.failures,
            error or CRASHED,
            now.replace(tzinfo=None),
        ],
    )
    cursor.execute("DELETE FROM job_attempts WHERE name = ?", [name])
    log.error(
        "job %s quarantined its input (%d, %d] after %d failures in a row: %s",
        name,
        attempt.low,
        attempt.high,
        attempt.failures,
        error or CRASHED,
    )


def quarantined(cursor: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, Any]]]:
    """Every job's quarantined ranges, oldest input first."""
    rows = fetch_dicts(
        cursor,
        "SELECT name, low, high, failures, error, quarantined_at FROM job_quarantine"
        " ORDER BY name, low",
    )
    ranges: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        ranges.setdefault(row.pop("name"), []).append(row)
    return ranges


def failures_in_a_row(cursor: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return dict(cursor.execute("SELECT name, failures FROM job_attempts").fetchall())


def warnings(cursor: duckdb.DuckDBPyConnection) -> list[str]:
    """One line per quarantined range, for /readyz."""
    return [
        f"job {name} quarantined its input ({q['low']}, {q['high']}] after {q['failures']}"
        f" failures: {q['error']}"
        for name, ranges in quarantined(cursor).items()
        for q in ranges
    ]


def readiness_warnings(database: Database) -> list[str]:
    """`warnings` on its own cursor; none when the database cannot be read (closing)."""
    cursor = database.cursor()
    try:
        return warnings(cursor)
    except duckdb.Error:
        log.warning("could not read the quarantined job ranges", exc_info=True)
        return []
    finally:
        cursor.close()


def take(cursor: duckdb.DuckDBPyConnection, name: str, low: int) -> tuple[int, int] | None:
    """In the caller's transaction: remove a quarantined range to run it again; its
    (low, high], or None when there is no such range."""
    # (No DELETE ... RETURNING: a lake has none.)
    row = cursor.execute(
        "SELECT low, high FROM job_quarantine WHERE name = ? AND low = ?", [name, low]
    ).fetchone()
    cursor.execute("DELETE FROM job_quarantine WHERE name = ? AND low = ?", [name, low])
    return (int(row[0]), int(row[1])) if row else None


def failed_again(
    cursor: duckdb.DuckDBPyConnection, name: str, low: int, exc: BaseException
) -> None:
    """A quarantined range failed when run again: count it and keep the new error."""
    cursor.execute(
        "UPDATE job_quarantine SET failures = failures + 1, error = ? WHERE name = ? AND low = ?",
        [f"{type(exc).__name__}: {exc}", name, low],
    )
