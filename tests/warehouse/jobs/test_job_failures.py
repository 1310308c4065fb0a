"""A job that fails, whatever it raises, rolls back its chunk, keeps its watermark, records
the error, and neither stops the scheduler nor the next run from carrying on."""

from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import InvalidOperation

import duckdb
import pytest

from collector.ingest.normalize import Normalizer
from tests.warehouse.spans.test_attribution import NOW, Warehouse, call
from warehouse.jobs.incremental import JOBS, Job, JobError, evaluates_now, no_step, run_job
from warehouse.jobs.scheduler import CONFLICT_RETRIES, JobScheduler
from warehouse.spans import attribution
from warehouse.store.database import Database


class Flaky:
    """A step that writes, then fails with a non-database error while `failing`."""

    def __init__(self) -> None:
        self.failing = True
        self.calls = 0

    def __call__(self, cursor: duckdb.DuckDBPyConnection, low: int, high: int) -> int:
        self.calls += 1
        rows = JOBS[attribution.NAME].step(cursor, low, high)
        if self.failing:
            raise InvalidOperation("a price that is not a number")
        return rows


def state(database: Database) -> tuple[int, str | None]:
    row = (
        database.cursor()
        .execute("SELECT watermark, last_error FROM job_state WHERE name = ?", [attribution.NAME])
        .fetchone()
    )
    assert row is not None
    return int(row[0]), row[1]


def test_a_non_database_error_rolls_back_and_is_recorded(database: Database) -> None:
    warehouse = Warehouse(database, Normalizer())
    warehouse.ingest(call(1, 2, None))
    step = Flaky()
    job = Job(attribution.NAME, step)

    with pytest.raises(JobError, match="not a number"):
        run_job(warehouse.cursor, job, NOW)
    assert state(database) == (0, "InvalidOperation: a price that is not a number")
    assert warehouse.snapshot() == [], "the failed chunk's writes were not rolled back"

    step.failing = False
    assert run_job(warehouse.cursor, job, NOW) == 1
    assert state(database) == (1, None)


def test_the_scheduler_keeps_running_a_job_that_raised(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = Warehouse(database, Normalizer())
    warehouse.ingest(call(1, 2, None))
    step = Flaky()
    # Only the flaky attribution job is scheduled.
    monkeypatch.setattr(
        "warehouse.jobs.scheduler.JOBS", {attribution.NAME: Job(attribution.NAME, step)}
    )
    # Quarantine (tests/warehouse/jobs/test_job_quarantine.py) would set the batch aside
    # after 3 failures in a row; here the job must keep trying until the fault goes.
    scheduler = JobScheduler(database, 0.05, quarantine_after=1_000)
    scheduler.start()
    try:
        deadline = time.monotonic() + 30
        while step.calls < 3:
            assert time.monotonic() < deadline, "the job stopped being run after it raised"
            time.sleep(0.02)
        assert state(database)[0] == 0
        step.failing = False
        while state(database) != (1, None):
            assert time.monotonic() < deadline, "the job never recovered"
            time.sleep(0.02)
    finally:
        scheduler.stop()
    assert len(warehouse.snapshot()) == 1


def test_a_job_that_loses_a_write_conflict_runs_again_without_a_traceback(
    database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A real DuckDB write-write conflict: another transaction holds an uncommitted update
    # of the row the job updates, as the alerts API does when it acknowledges the incident
    # the alert job is updating.
    cursor = database.cursor()
    cursor.execute("CREATE TABLE shared_row (id INTEGER, updates INTEGER)")
    cursor.execute("INSERT INTO shared_row VALUES (1, 0)")
    attempts = []

    def update(cursor: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
        attempts.append(now)
        cursor.execute("UPDATE shared_row SET updates = updates + 1 WHERE id = 1")
        return 1

    job = Job("updater", no_step, housekeeping=update, source=evaluates_now)
    monkeypatch.setattr("warehouse.jobs.scheduler.JOBS", {job.name: job})
    scheduler = JobScheduler(database, 60)
    other = database.cursor()
    other.begin()
    other.execute("UPDATE shared_row SET updates = 100 WHERE id = 1")
    with caplog.at_level(logging.INFO, logger="warehouse.jobs.scheduler"):
        assert scheduler.run(job.name) == 0
    assert len(attempts) == CONFLICT_RETRIES + 1
    retries = [r for r in caplog.records if "met a concurrent write" in r.getMessage()]
    assert len(retries) == CONFLICT_RETRIES
    (gave_up,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "Conflict" in gave_up.getMessage()
    assert "runs again at its next interval" in gave_up.getMessage()
    assert all(r.exc_info is None for r in caplog.records), "a conflict logged a traceback"
    other.rollback()
    assert scheduler.run(job.name) == 1
    assert cursor.execute("SELECT updates FROM shared_row").fetchone() == (1,)
