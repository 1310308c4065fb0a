"""A job that fails on the same input again and again quarantines the failing batch (counted,
listed, skipped) instead of retrying it forever while its input piles up behind it; errors
that say nothing about the input never quarantine anything; a quarantined batch can be run
again once the cause is fixed."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from collector.ingest.normalize import Normalizer
from tests.warehouse.spans.test_attribution import NOW, Warehouse, call
from warehouse.jobs.incremental import (
    BATCHES_PER_CHUNK,
    Job,
    JobError,
    input_high,
    job_states,
    retry_quarantined,
    run_job,
)
from warehouse.jobs.quarantine import QUARANTINE_AFTER_FAILURES
from warehouse.spans import attribution
from warehouse.store.database import Database

BATCHES = BATCHES_PER_CHUNK + 10


class Poisoned:
    """The attribution step, failing on any range that holds a batch in `poison`."""

    def __init__(self, *poison: int, error: type[Exception] = ValueError) -> None:
        self.poison = set(poison)
        self.error = error
        self.runs = 0

    def __call__(self, cursor: duckdb.DuckDBPyConnection, low: int, high: int) -> int:
        self.runs += 1
        bad = sorted(b for b in self.poison if low < b <= high)
        if bad:
            raise self.error(f"batch {bad[0]} is poison")
        return attribution.attribute(cursor, low, high)


def ingest(database: Database, batches: int = BATCHES) -> Warehouse:
    """One model call per batch: trace t in batch t."""
    warehouse = Warehouse(database, Normalizer())
    warehouse.ingest_batches([[call(t, 2, None)] for t in range(1, batches + 1)])
    return warehouse


def catch_up(cursor: duckdb.DuckDBPyConnection, job: Job, max_runs: int) -> int:
    """Run the job as the scheduler does, until it has caught up; returns the runs."""
    for runs in range(1, max_runs + 1):
        try:
            run_job(cursor, job, NOW)
        except JobError:
            continue
        if state(cursor, job.name)["watermark"] >= input_high(cursor, job):
            return runs
    raise AssertionError(f"not caught up after {max_runs} runs: {state(cursor, job.name)}")


def state(cursor: duckdb.DuckDBPyConnection, name: str) -> dict[str, Any]:
    states = job_states(cursor)
    return next(s for s in states if s["name"] == name)


def ranges(cursor: duckdb.DuckDBPyConnection, name: str) -> list[tuple[int, int]]:
    return [(q["low"], q["high"]) for q in state(cursor, name)["quarantined"]]


def attributed_traces(cursor: duckdb.DuckDBPyConnection) -> set[int]:
    rows = cursor.execute("SELECT trace_id FROM model_calls").fetchall()
    return {int.from_bytes(row[0], "big") for row in rows}


# Failures before narrowing, then per halving at most one try of each half.
MOST_RUNS = QUARANTINE_AFTER_FAILURES + 2 * math.ceil(math.log2(BATCHES_PER_CHUNK)) + 2


def test_a_batch_that_always_fails_is_quarantined_and_the_rest_processed(
    database: Database,
) -> None:
    warehouse = ingest(database)
    step = Poisoned(37)
    job = Job(attribution.NAME, step)

    runs = catch_up(warehouse.cursor, job, max_runs=40)

    assert runs <= MOST_RUNS + 1
    assert ranges(warehouse.cursor, job.name) == [(36, 37)]
    (quarantined,) = state(warehouse.cursor, job.name)["quarantined"]
    assert quarantined["failures"] >= QUARANTINE_AFTER_FAILURES
    assert quarantined["error"] == "ValueError: batch 37 is poison"
    assert attributed_traces(warehouse.cursor) == set(range(1, BATCHES + 1)) - {37}
    after = state(warehouse.cursor, job.name)
    assert after["watermark"] == BATCHES and after["failures"] == 0
    assert after["last_error"] is None
    # Caught up: later runs leave the quarantine as it is and run nothing.
    before = step.runs
    assert run_job(warehouse.cursor, job, NOW) == 0
    assert step.runs == before


def test_every_poison_batch_of_a_chunk_is_quarantined_on_its_own(database: Database) -> None:
    warehouse = ingest(database)
    job = Job(attribution.NAME, Poisoned(1, 2, 40))

    catch_up(warehouse.cursor, job, max_runs=3 * MOST_RUNS)

    assert ranges(warehouse.cursor, job.name) == [(0, 1), (1, 2), (39, 40)]
    assert attributed_traces(warehouse.cursor) == set(range(1, BATCHES + 1)) - {1, 2, 40}


@pytest.mark.parametrize(
    "error",
    [duckdb.TransactionException, duckdb.IOException, duckdb.InterruptException],
    ids=["write-conflict", "disk-full", "interrupt"],
)
def test_errors_about_the_moment_never_quarantine(
    database: Database, error: type[Exception]
) -> None:
    warehouse = ingest(database)
    step = Poisoned(5, error=error)
    job = Job(attribution.NAME, step)

    for _ in range(3 * QUARANTINE_AFTER_FAILURES):
        with pytest.raises(JobError):
            run_job(warehouse.cursor, job, NOW)
    assert state(warehouse.cursor, job.name)["failures"] == 0
    assert ranges(warehouse.cursor, job.name) == []
    assert state(warehouse.cursor, job.name)["watermark"] == 0

    step.poison.clear()
    catch_up(warehouse.cursor, job, max_runs=1)
    assert attributed_traces(warehouse.cursor) == set(range(1, BATCHES + 1))


def test_a_failure_that_stops_before_the_limit_is_forgotten(database: Database) -> None:
    warehouse = ingest(database)
    step = Poisoned(5)
    job = Job(attribution.NAME, step)
    for failures in range(1, QUARANTINE_AFTER_FAILURES):
        with pytest.raises(JobError, match="batch 5 is poison"):
            run_job(warehouse.cursor, job, NOW)
        assert state(warehouse.cursor, job.name)["failures"] == failures
    step.poison.clear()  # the cause went away (a price fixed, memory freed)
    catch_up(warehouse.cursor, job, max_runs=1)
    assert state(warehouse.cursor, job.name)["failures"] == 0
    assert ranges(warehouse.cursor, job.name) == []


def test_a_quarantined_batch_runs_again_once_fixed(database: Database) -> None:
    warehouse = ingest(database)
    step = Poisoned(37)
    job = Job(attribution.NAME, step)
    catch_up(warehouse.cursor, job, max_runs=40)

    with pytest.raises(JobError, match="failed again"):
        retry_quarantined(warehouse.cursor, job, 36, NOW)
    (still,) = state(warehouse.cursor, job.name)["quarantined"]
    assert still["failures"] == QUARANTINE_AFTER_FAILURES + 1

    step.poison.clear()
    assert retry_quarantined(warehouse.cursor, job, 35, NOW) is None  # no such range
    assert retry_quarantined(warehouse.cursor, job, 36, NOW) == 1
    assert ranges(warehouse.cursor, job.name) == []
    assert attributed_traces(warehouse.cursor) == set(range(1, BATCHES + 1))
    assert state(warehouse.cursor, job.name)["watermark"] == BATCHES


CRASHING_RUN = """
import datetime as dt, os, sys
from pathlib import Path
from warehouse.jobs.incremental import Job, run_job
from warehouse.spans import attribution
from warehouse.store.database import Database

poison = int(sys.argv[2])

def step(cursor, low, high):
    if low < poison <= high:
        os._exit(9)  # the process dies in the step, as when the kernel kills it
    return attribution.attribute(cursor, low, high)

database = Database.open(Path(sys.argv[1]))
run_job(database.cursor(), Job(attribution.NAME, step), dt.datetime.now(dt.UTC))
database.close()
"""


def test_a_process_that_dies_in_the_step_counts_as_a_failure(tmp_path: Path) -> None:
    """The crash loop: a batch that kills the process every time it is read. The attempt is
    counted before the step runs, so after a few restarts that batch is quarantined."""
    path = tmp_path / "spendscope.duckdb"
    database = Database.open(path)
    ingest(database, batches=12)
    database.close()

    exits = []
    while not exits or exits[-1] != 0:
        assert len(exits) < 12, f"still crashing after {len(exits)} runs: {exits}"
        child = subprocess.run(
            [sys.executable, "-c", CRASHING_RUN, str(path), "7"], capture_output=True, timeout=120
        )
        exits.append(child.returncode)
    assert set(exits[:-1]) == {9}

    database = Database.open(path)
    cursor = database.cursor()
    (quarantined,) = state(cursor, attribution.NAME)["quarantined"]
    assert (quarantined["low"], quarantined["high"]) == (6, 7)
    assert "the process ended during each attempt" in quarantined["error"]
    assert attributed_traces(cursor) == set(range(1, 13)) - {7}
    database.close()
