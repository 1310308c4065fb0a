"""Incremental jobs: a pure step over a range of ingest batches, plus the bookkeeping.

Each job keeps a watermark (the last ingest batch it has processed) in `job_state`. A run
processes the batches after the watermark in bounded chunks; the step's writes and the new
watermark commit in one transaction, so a crash or a re-run never counts anything twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from warehouse.detection import anomalies, budgets, runaway, signals
from warehouse.gpu import allocation as gpu_allocation
from warehouse.gpu import efficiency as gpu_efficiency
from warehouse.incidents import lifecycle as incidents
from warehouse.jobs import quarantine
from warehouse.outcomes import extraction as outcome_extraction
from warehouse.pricing import job as pricing
from warehouse.reconciliation import detector as reconciliation
from warehouse.rollups import job as rollups
from warehouse.spans import attribution
from warehouse.spans.insert import last_batch_id

log = logging.getLogger(__name__)

# step(cursor, low, high) -> rows written, for batches in (low, high]
Step = Callable[[duckdb.DuckDBPyConnection, int, int], int]
# housekeeping(cursor, now) -> rows written: work that needs no new batch
Housekeeping = Callable[[duckdb.DuckDBPyConnection, dt.datetime], int]
# source(cursor) -> the highest position of the job's input (default: the last ingest batch)
Source = Callable[[duckdb.DuckDBPyConnection], int]

BATCHES_PER_CHUNK = 50


def evaluates_now(cursor: duckdb.DuckDBPyConnection) -> int:
    """The `source` of a detector that evaluates the present, not new batches: its
    housekeeping does the work on every run and it never has a step to run."""
    return 0


def no_step(cursor: duckdb.DuckDBPyConnection, low: int, high: int) -> int:
    return 0


@dataclass(frozen=True)
class Job:
    name: str
    step: Step
    # Only process batches that job has processed (its input is that job's output).
    after: str | None = None
    # Runs first on every run, in its own transaction, even when no batch is new.
    housekeeping: Housekeeping | None = None
    # Where the watermark points: ingest batches unless the job reads another sequence.
    source: Source = last_batch_id
    # Positions processed per transaction.
    chunk: int = BATCHES_PER_CHUNK


JOBS: dict[str, Job] = {
    attribution.NAME: Job(attribution.NAME, attribution.attribute),
    outcome_extraction.NAME: Job(
        outcome_extraction.NAME,
        outcome_extraction.extract_outcomes,
        housekeeping=outcome_extraction.sequence,
    ),
    # Before pricing: a call's GPU share (gpu_call_costs) is what pricing charges it.
    gpu_efficiency.NAME: Job(
        gpu_efficiency.NAME,
        gpu_efficiency.refresh,
        housekeeping=gpu_efficiency.housekeeping,
        source=gpu_efficiency.source,
    ),
    gpu_allocation.NAME: Job(
        gpu_allocation.NAME,
        gpu_allocation.step,
        after=attribution.NAME,
        housekeeping=gpu_allocation.housekeeping,
    ),
    pricing.NAME: Job(
        pricing.NAME, pricing.price, after=attribution.NAME, housekeeping=pricing.housekeeping
    ),
    rollups.NAME: Job(
        rollups.NAME, rollups.refresh, source=rollups.latest_priced_seq, chunk=1_000_000
    ),
    # The detectors: each run records the signals firing now (warehouse.detection.signals).
    anomalies.NAME: Job(anomalies.NAME, no_step, housekeeping=anomalies.run, source=evaluates_now),
    runaway.NAME: Job(runaway.NAME, no_step, housekeeping=runaway.run, source=evaluates_now),
    budgets.NAME: Job(budgets.NAME, no_step, housekeeping=budgets.run, source=evaluates_now),
    reconciliation.NAME: Job(
        reconciliation.NAME, no_step, housekeeping=reconciliation.run, source=evaluates_now
    ),
    # Signals -> incidents -> outbox; housekeeping resolves the quiet ones.
    incidents.NAME: Job(
        incidents.NAME,
        incidents.apply_signals,
        housekeeping=incidents.housekeeping,
        source=signals.last_signal_id,
        chunk=10_000,
    ),
}


class JobError(RuntimeError):
    """A job step failed (any exception: a database error, a bad value in a step); its
    transaction was rolled back and its watermark kept."""


class JobInterrupted(JobError):
    """The job's query was interrupted (at shutdown): its chunk was rolled back, and no
    failure was recorded or counted."""


def _watermark(cursor: duckdb.DuckDBPyConnection, name: str) -> int:
    row = cursor.execute("SELECT watermark FROM job_state WHERE name = ?", [name]).fetchone()
    return int(row[0]) if row else 0


def _record(
    cursor: duckdb.DuckDBPyConnection,
    name: str,
    watermark: int,
    rows: int,
    now: dt.datetime,
    error: str | None,
) -> None:
    cursor.execute(
        """
        MERGE INTO job_state USING (
            SELECT $name AS name, $watermark::BIGINT AS watermark, $now AS last_run_at,
                   $rows::BIGINT AS last_rows, $error AS last_error
        ) AS new ON job_state.name = new.name
        WHEN MATCHED THEN UPDATE SET
            watermark = new.watermark, last_run_at = new.last_run_at,
            last_rows = new.last_rows, total_rows = job_state.total_rows + new.last_rows,
            runs = job_state.runs + 1, last_error = new.last_error
        WHEN NOT MATCHED THEN INSERT (name, watermark, last_run_at, last_rows, total_rows,
                                      runs, last_error)
            VALUES (new.name, new.watermark, new.last_run_at, new.last_rows, new.last_rows, 1,
                    new.last_error)
        """,
        {
            "name": name,
            "watermark": watermark,
            "now": now.replace(tzinfo=None),
            "rows": rows,
            "error": error,
        },
    )


def _failed(
    cursor: duckdb.DuckDBPyConnection,
    name: str,
    watermark: int,
    now: dt.datetime,
    exc: Exception,
    attempt: quarantine.Attempt | None = None,
) -> None:
    """After a failed step: roll back (a failed commit has already ended the transaction)
    and record the error with the watermark unchanged, when the database still takes a
    write (on a full disk it may not: the error is then only logged by the caller). An
    interrupt is not a failure: nothing is recorded."""
    try:
        cursor.rollback()
    except duckdb.Error:
        log.debug("no transaction to roll back after job %s failed", name)
    try:
        if attempt is not None:
            quarantine.failed(cursor, name, attempt, exc)
        if not isinstance(exc, duckdb.InterruptException):
            _record(cursor, name, watermark, 0, now, f"{type(exc).__name__}: {exc}")
    except duckdb.Error:
        log.warning("job %s: could not record its failure", name, exc_info=True)


def _error(message: str, exc: Exception) -> JobError:
    if isinstance(exc, duckdb.InterruptException):
        return JobInterrupted(f"{message}: interrupted")
    return JobError(f"{message}: {exc}")


def input_high(cursor: duckdb.DuckDBPyConnection, job: Job) -> int:
    """How far the job's input goes now: the position a caught-up job's watermark reaches."""
    high = job.source(cursor)
    if job.after is not None:
        high = min(high, _watermark(cursor, job.after))
    return high


def run_job(
    cursor: duckdb.DuckDBPyConnection,
    job: Job,
    now: dt.datetime,
    *,
    stopping: Callable[[], bool] = lambda: False,
    quarantine_after: int = quarantine.QUARANTINE_AFTER_FAILURES,
) -> int:
    """Catch the job up with its input; returns the rows it wrote.

    `stopping` is asked before each chunk: at shutdown a long catch-up ends after the chunk
    under way (its work and watermark committed together) instead of holding the process.
    A range that failed `quarantine_after` times in a row is narrowed down and quarantined
    (`warehouse.jobs.quarantine`).
    """
    high = input_high(cursor, job)
    low = _watermark(cursor, job.name)
    total = 0
    if stopping():
        return total
    if job.housekeeping is not None:
        cursor.begin()
        try:
            total = job.housekeeping(cursor, now)
            if total or job.source is evaluates_now:  # a detector: every run counts
                _record(cursor, job.name, low, total, now, None)
            cursor.commit()
        except Exception as exc:  # job boundary: roll back, record, report
            _failed(cursor, job.name, low, now, exc)
            raise _error(f"job {job.name} failed in housekeeping", exc) from exc
    while low < high and not stopping():
        rows, low = _run_chunk(cursor, job, low, min(high, low + job.chunk), now, quarantine_after)
        total += rows
    return total


def _run_chunk(
    cursor: duckdb.DuckDBPyConnection,
    job: Job,
    low: int,
    upper: int,
    now: dt.datetime,
    after: int,
) -> tuple[int, int]:
    """Run the step on the next range from `low` (up to `upper`), or quarantine that range;
    returns the rows written and the new watermark."""
    try:
        attempt = quarantine.plan(cursor, job.name, low, upper, after)
        if attempt.quarantine:
            cursor.begin()
            quarantine.quarantine(cursor, job.name, attempt, now)
            _record(cursor, job.name, attempt.high, 0, now, None)
            cursor.commit()
            return 0, attempt.high
        quarantine.begin(cursor, job.name, attempt)  # committed: a crash counts as a failure
    except Exception as exc:  # job boundary: roll back, record, report
        _failed(cursor, job.name, low, now, exc)
        raise _error(f"job {job.name} could not start on batches ({low}, {upper}]", exc) from exc
    cursor.begin()
    try:
        rows = job.step(cursor, low, attempt.high)
        _record(cursor, job.name, attempt.high, rows, now, None)
        quarantine.succeeded(cursor, job.name, attempt, after)
        cursor.commit()
    except Exception as exc:  # job boundary: roll back, record, report
        _failed(cursor, job.name, low, now, exc, attempt)
        raise _error(f"job {job.name} failed on batches ({low}, {attempt.high}]", exc) from exc
    return rows, attempt.high


def retry_quarantined(
    cursor: duckdb.DuckDBPyConnection, job: Job, low: int, now: dt.datetime
) -> int | None:
    """Run the job's step again on its quarantined range starting at `low`; on success the
    range leaves the quarantine (the watermark is already past it). Returns the rows
    written, or None when no such range is quarantined; JobError when it fails again (it
    stays quarantined, with the new error)."""
    cursor.begin()
    try:
        taken = quarantine.take(cursor, job.name, low)
        if taken is None:
            cursor.rollback()
            return None
        rows = job.step(cursor, *taken)
        cursor.commit()
    except Exception as exc:  # job boundary: roll back, record, report
        try:
            cursor.rollback()
        except duckdb.Error:
            log.debug("no transaction to roll back after job %s failed", job.name)
        quarantine.failed_again(cursor, job.name, low, exc)
        raise _error(
            f"job {job.name} failed again on its quarantined range from {low}", exc
        ) from exc
    log.info("job %s processed its quarantined range (%d, %d] again", job.name, *taken)
    return rows


def job_states(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every registered job's progress; `input_high` is where its input stands now,
    `failures` its failures in a row on the range it is attempting, `quarantined` the
    input ranges it set aside (warehouse.jobs.quarantine)."""
    columns = ("name", "watermark", "last_run_at", "last_rows", "total_rows", "runs", "last_error")
    rows = cursor.execute(f"SELECT {', '.join(columns)} FROM job_state").fetchall()
    stored = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
    quarantined = quarantine.quarantined(cursor)
    failures = quarantine.failures_in_a_row(cursor)
    states = []
    for name, job in JOBS.items():
        state = stored.get(name) or dict.fromkeys(columns, None) | {
            "name": name,
            "watermark": 0,
            "last_rows": 0,
            "total_rows": 0,
            "runs": 0,
        }
        states.append(
            state
            | {
                "input_high": input_high(cursor, job),
                "failures": failures.get(name, 0),
                "quarantined": quarantined.get(name, []),
                "quarantined_ranges": len(quarantined.get(name, [])),
            }
        )
    return states
