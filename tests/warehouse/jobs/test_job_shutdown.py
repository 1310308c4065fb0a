"""At shutdown a job's long query is interrupted within the deadline: its chunk is rolled
back whole (watermark kept, nothing written), and the interrupt is neither recorded as the
job's error nor counted towards quarantining its input."""

from __future__ import annotations

import threading
import time

import duckdb
import pytest

from collector.ingest.normalize import Normalizer
from tests.warehouse.spans.test_attribution import Warehouse, call
from warehouse.jobs.incremental import Job, job_states
from warehouse.jobs.scheduler import JobScheduler
from warehouse.spans import attribution
from warehouse.store.database import Database

# Minutes of work for DuckDB: the query only ends when it is interrupted.
ENDLESS = "SELECT count(*) FROM range(1000000000000) t(i) WHERE hash(i) % 1000003 = 7"


def test_stopping_the_scheduler_interrupts_a_long_job_within_the_deadline(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    Warehouse(database, Normalizer()).ingest(call(1, 2, None))
    entered = threading.Event()

    def endless(cursor: duckdb.DuckDBPyConnection, low: int, high: int) -> int:
        attribution.attribute(cursor, low, high)  # writes, to be rolled back
        entered.set()
        cursor.execute(ENDLESS).fetchall()
        return 1

    job = Job(attribution.NAME, endless)
    monkeypatch.setattr("warehouse.jobs.scheduler.JOBS", {job.name: job})
    scheduler = JobScheduler(database, 60)
    scheduler.start()
    assert entered.wait(30), "the job never started"
    time.sleep(0.2)  # inside the query

    stopped: list[bool] = []
    started = time.monotonic()
    stopper = threading.Thread(
        target=lambda: stopped.append(scheduler.stop(grace_seconds=0.5, deadline_seconds=5))
    )
    stopper.start()
    stopper.join(15)
    took = time.monotonic() - started
    assert stopped == [True], f"the scheduler did not stop the job within {took:.1f} s"
    assert took < 5

    cursor = database.cursor()
    (state,) = [s for s in job_states(cursor) if s["name"] == job.name]
    assert state["watermark"] == 0 and state["last_error"] is None
    assert state["failures"] == 0 and state["quarantined"] == []
    assert cursor.execute("SELECT count(*) FROM model_calls").fetchone() == (0,)


def test_a_job_that_finishes_within_the_grace_is_not_interrupted(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    Warehouse(database, Normalizer()).ingest(call(1, 2, None))
    entered = threading.Event()

    def slow(cursor: duckdb.DuckDBPyConnection, low: int, high: int) -> int:
        entered.set()
        time.sleep(0.3)
        return attribution.attribute(cursor, low, high)

    job = Job(attribution.NAME, slow)
    monkeypatch.setattr("warehouse.jobs.scheduler.JOBS", {job.name: job})
    scheduler = JobScheduler(database, 60)
    scheduler.start()
    assert entered.wait(30)
    assert scheduler.stop(grace_seconds=5, deadline_seconds=10)
    cursor = database.cursor()
    assert cursor.execute("SELECT watermark FROM job_state").fetchall() == [(1,)]
    assert cursor.execute("SELECT count(*) FROM model_calls").fetchone() == (1,)
