"""The lifespan's stop stays within `shutdown_timeout_seconds` in all: the parts share one
deadline, each given what is left of it, instead of each getting the whole timeout in turn.

The three writers here are real group-commit writers whose commit does not finish until the
test lets it (a writer slow to flush): with a timeout each, the stop took three timeouts.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
from fastapi.testclient import TestClient

from collector.ingest.group_commit import GroupCommitWriter
from collector.service import create_app
from collector.settings import Settings
from warehouse.store.database import Database

TIMEOUT = 1.0
SLACK = 0.8  # the rest of the stop (scheduler, TestClient) on a busy machine


class StuckBatch:
    """A commit that lasts until `release` is set."""

    def __init__(self) -> None:
        self.writing = threading.Event()
        self.release = threading.Event()

    def write(self, cursor: Any, tables: list[pa.Table]) -> list[int]:
        self.writing.set()
        self.release.wait(30)
        return [table.num_rows for table in tables]

    def committed(self, tables: list[pa.Table], results: list[int], seconds: float) -> None:
        pass

    def failed(self) -> None:
        pass

    def queued(self, rows: int) -> None:
        pass

    def refused(self, rows: int) -> None:
        pass


def test_a_stop_with_writers_slow_to_flush_takes_the_timeout_not_a_multiple(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, grpc_port=0, shutdown_timeout_seconds=TIMEOUT)
    database = Database.open(settings.database_path)
    app = create_app(settings, database)
    batches = [StuckBatch() for _ in range(3)]
    writers = [
        GroupCommitWriter(
            database, batch, name=f"slow writer {i}", max_queued_rows=10, max_commit_rows=10
        )
        for i, batch in enumerate(batches)
    ]
    span_writer, outcome_writer, metric_writer = writers
    app.state.service = dataclasses.replace(
        app.state.service,
        writer=span_writer,
        outcome_writer=outcome_writer,
        metric_writer=metric_writer,
    )
    try:
        with TestClient(app):
            for writer in writers:
                writer.submit(pa.table({"n": [1]}))
            assert all(batch.writing.wait(10) for batch in batches)
            stopping = time.monotonic()
        elapsed = time.monotonic() - stopping
    finally:
        for batch in batches:
            batch.release.set()
        for writer in writers:
            writer.stop(10)
        database.close()
    # The writers were waited for up to the deadline, and no longer.
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + SLACK, elapsed
