"""The thin scheduled wrapper around the jobs: APScheduler in the serving process."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Mapping

import duckdb
from apscheduler.schedulers.background import BackgroundScheduler

from warehouse.jobs.incremental import JOBS, JobError, run_job
from warehouse.store.database import Database

log = logging.getLogger(__name__)
CONFLICT_RETRIES = 2
CONFLICT_BACKOFF_SECONDS = 0.1


class JobScheduler:
    def __init__(
        self,
        database: Database,
        interval_seconds: float,
        intervals: Mapping[str, float] | None = None,
    ) -> None:
        """Every job runs every `interval_seconds`, but those named in `intervals`."""
        self._database = database
        self._interval = interval_seconds
        self._intervals = dict(intervals or {})
        self._scheduler = BackgroundScheduler(timezone=dt.UTC)
        self._stopping = threading.Event()

    def start(self) -> None:
        for name in JOBS:
            self._scheduler.add_job(
                self.run,
                "interval",
                args=[name],
                id=name,
                seconds=self._intervals.get(name, self._interval),
                max_instances=1,
                coalesce=True,
                next_run_time=dt.datetime.now(dt.UTC),
            )
        self._scheduler.start()

    def stop(self) -> None:
        """Let running jobs finish the chunk under way, then stop."""
        self._stopping.set()
        self._scheduler.shutdown(wait=True)

    def run(self, name: str) -> int:
        """Run one job; a run that lost a write-write conflict to a concurrent transaction
        (an API write, e.g. acknowledging the incident the alert job was updating) is
        rolled back and run again, up to CONFLICT_RETRIES times: a conflict is expected
        under DuckDB's optimistic concurrency, not a failure worth a traceback."""
        cursor = self._database.cursor()
        try:
            for attempt in range(CONFLICT_RETRIES + 1):
                try:
                    rows = run_job(
                        cursor, JOBS[name], dt.datetime.now(dt.UTC), stopping=self._stopping.is_set
                    )
                    break
                except JobError as exc:
                    if not isinstance(exc.__cause__, duckdb.TransactionException):
                        log.exception("job %s failed", name)
                        return 0
                    if attempt == CONFLICT_RETRIES:
                        log.warning("%s; it runs again at its next interval", exc)
                        return 0
                    log.info("job %s met a concurrent write; running it again", name)
                    time.sleep(CONFLICT_BACKOFF_SECONDS * (attempt + 1))  # let it commit
        finally:
            cursor.close()
        if rows:
            log.debug("job %s wrote %d rows", name, rows)
        return rows
