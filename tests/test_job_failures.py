"""A job that fails, whatever it raises, rolls back its chunk, keeps its watermark, records
the error, and neither stops the scheduler nor the next run from carrying on."""

from __future__ import annotations

import time
from decimal import InvalidOperation

import duckdb
import pytest

from collector.normalize import Normalizer
from tests.test_attribution import NOW, Warehouse, call
from warehouse import attribution
from warehouse.database import Database
from warehouse.jobs import JOBS, Job, JobError, run_job
from warehouse.scheduler import JobScheduler


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
    monkeypatch.setattr("warehouse.scheduler.JOBS", {attribution.NAME: Job(attribution.NAME, step)})
    scheduler = JobScheduler(database, 0.05)
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
