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
from warehouse.outcomes import extraction as outcome_extraction
from warehouse.pricing import job as pricing
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
        INSERT INTO job_state (name, watermark, last_run_at, last_rows, total_rows, runs,
                               last_error)
        VALUES ($name, $watermark, $now, $rows, $rows, 1, $error)
        ON CONFLICT (name) DO UPDATE SET
            watermark = excluded.watermark, last_run_at = excluded.last_run_at,
            last_rows = excluded.last_rows,
            total_rows = job_state.total_rows + excluded.last_rows,
            runs = job_state.runs + 1, last_error = excluded.last_error
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
    cursor: duckdb.DuckDBPyConnection, name: str, watermark: int, now: dt.datetime, exc: Exception
) -> None:
    """After a failed step: roll back (a failed commit has already ended the transaction)
    and record the error with the watermark unchanged, when the database still takes a
    write (on a full disk it may not: the error is then only logged by the caller)."""
    try:
        cursor.rollback()
    except duckdb.Error:
        log.debug("no transaction to roll back after job %s failed", name)
    try:
        _record(cursor, name, watermark, 0, now, f"{type(exc).__name__}: {exc}")
    except duckdb.Error:
        log.warning("job %s: could not record its failure", name, exc_info=True)


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
) -> int:
    """Catch the job up with its input; returns the rows it wrote.

    `stopping` is asked before each chunk: at shutdown a long catch-up ends after the chunk
    under way (its work and watermark committed together) instead of holding the process.
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
            raise JobError(f"job {job.name} failed in housekeeping: {exc}") from exc
    while low < high and not stopping():
        upper = min(high, low + job.chunk)
        cursor.begin()
        try:
            rows = job.step(cursor, low, upper)
            _record(cursor, job.name, upper, rows, now, None)
            cursor.commit()
        except Exception as exc:  # job boundary: roll back, record, report
            _failed(cursor, job.name, low, now, exc)
            raise JobError(f"job {job.name} failed on batches ({low}, {upper}]: {exc}") from exc
        total += rows
        low = upper
    return total


def job_states(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every registered job's progress; `input_high` is where its input stands now."""
    columns = ("name", "watermark", "last_run_at", "last_rows", "total_rows", "runs", "last_error")
    rows = cursor.execute(f"SELECT {', '.join(columns)} FROM job_state").fetchall()
    stored = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
    states = []
    for name, job in JOBS.items():
        state = stored.get(name) or dict.fromkeys(columns, None) | {
            "name": name,
            "watermark": 0,
            "last_rows": 0,
            "total_rows": 0,
            "runs": 0,
        }
        states.append(state | {"input_high": input_high(cursor, job)})
    return states
