"""Compaction of a lake: many nodes' group commits are many small files and snapshots.

`compact` flushes the rows inlined in the catalog into Parquet files, merges adjacent small
files, expires the snapshots older than `keep` and deletes the files no snapshot needs any
more, and reports what it found before and after and how long each step held the catalog.
The `Compactor` runs it on the leader every `interval` seconds (one node compacts; a merge
that meets a concurrent commit loses the conflict and runs again at the next interval).

Merging keeps each row's snapshot id (checked in tests/warehouse/store/test_lake.py), so the
`spans` view's batch ids, and the jobs' watermarks on them, do not move.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from contextlib import closing
from typing import Any

import duckdb

from warehouse.store import lake
from warehouse.store.database import Database

log = logging.getLogger(__name__)

DEFAULT_KEEP = dt.timedelta(hours=1)


def compact(cursor: duckdb.DuckDBPyConnection, keep: dt.timedelta = DEFAULT_KEEP) -> dict[str, Any]:
    """One compaction of the lake `cursor` is on; the statistics before and after and the
    seconds of each step."""
    before = lake.lake_stats(cursor)
    older_than = (dt.datetime.now(dt.UTC) - keep).replace(tzinfo=None)
    steps = {
        "flush_inlined": f"CALL ducklake_flush_inlined_data('{lake.CATALOG}')",
        "merge_files": f"CALL ducklake_merge_adjacent_files('{lake.CATALOG}')",
        "expire_snapshots": f"CALL ducklake_expire_snapshots('{lake.CATALOG}', older_than => ?)",
        "cleanup_files": f"CALL ducklake_cleanup_old_files('{lake.CATALOG}', older_than => ?)",
    }
    seconds: dict[str, float] = {}
    for name, statement in steps.items():
        started = time.perf_counter()
        cursor.execute(statement, [older_than] if "?" in statement else [])
        seconds[name] = time.perf_counter() - started
    return {"before": before, "after": lake.lake_stats(cursor), "seconds": seconds}


class Compactor:
    """`compact` every `interval_seconds` while `leads()`, on a thread of its own."""

    def __init__(
        self,
        database: Database,
        interval_seconds: float,
        leads: Callable[[], bool],
        *,
        keep: dt.timedelta = DEFAULT_KEEP,
    ) -> None:
        self._database = database
        self._interval = interval_seconds
        self._leads = leads
        self._keep = keep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.last: dict[str, Any] | None = None

    def start(self) -> None:
        if self._database.lake is None:
            return
        self._thread = threading.Thread(target=self._loop, name="lake-compaction", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            if not self._leads():
                continue
            try:
                with closing(self._database.cursor()) as cursor:
                    self.last = compact(cursor, self._keep)
                self.runs += 1
                log.info("lake compaction: %s", self.last)
            except duckdb.Error:  # the loop's boundary: logged, tried again next interval
                log.exception("lake compaction failed")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
