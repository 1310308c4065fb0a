"""The thin scheduled wrapper around the jobs: APScheduler in the serving process."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping

import duckdb
from apscheduler.schedulers.background import BackgroundScheduler

from warehouse.jobs.incremental import JOBS, JobError, JobInterrupted, run_job
from warehouse.jobs.quarantine import QUARANTINE_AFTER_FAILURES
from warehouse.store.database import Database

log = logging.getLogger(__name__)
CONFLICT_RETRIES = 2
CONFLICT_BACKOFF_SECONDS = 0.1
INTERRUPT_POLL_SECONDS = 0.05


class JobScheduler:
    def __init__(
        self,
        database: Database,
        interval_seconds: float,
        intervals: Mapping[str, float] | None = None,
        *,
        quarantine_after: int = QUARANTINE_AFTER_FAILURES,
        leads: Callable[[], bool] = lambda: True,
    ) -> None:
        """Every job runs every `interval_seconds`, but those named in `intervals`; a range
        a job fails on `quarantine_after` times in a row is narrowed down and quarantined.
        A run starts only while `leads()` (this node runs the jobs of a lake:
        `warehouse.store.leadership`); on the embedded file it always does."""
        self._database = database
        self._leads = leads
        self._interval = interval_seconds
        self._intervals = dict(intervals or {})
        self._quarantine_after = quarantine_after
        self._scheduler = BackgroundScheduler(timezone=dt.UTC)
        self._stopping = threading.Event()
        # The cursors of the jobs running now, to interrupt at shutdown.
        self._running: dict[str, duckdb.DuckDBPyConnection] = {}
        self._lock = threading.Lock()

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

    def stop(self, grace_seconds: float = 1.0, deadline_seconds: float = 10.0) -> bool:
        """Start no new chunk; give the chunks under way `grace_seconds` to commit, then
        interrupt their queries (each is rolled back whole, its watermark kept) until they
        return or `deadline_seconds` have passed. False when a job was still running then
        (in Python code, which an interrupt does not reach): it is left behind."""
        self._stopping.set()
        start = time.monotonic()
        while self._busy() and time.monotonic() < start + min(grace_seconds, deadline_seconds):
            time.sleep(INTERRUPT_POLL_SECONDS)
        # A job between two queries misses an interrupt: repeat until it has returned.
        interrupted: set[str] = set()
        while self._busy() and time.monotonic() < start + deadline_seconds:
            with self._lock:
                for name, cursor in self._running.items():
                    if name not in interrupted:
                        log.info("interrupting job %s at shutdown", name)
                        interrupted.add(name)
                    cursor.interrupt()
            time.sleep(INTERRUPT_POLL_SECONDS)
        stopped = not self._busy()
        if not stopped:
            log.warning("jobs still running at the shutdown deadline: %s", sorted(self._running))
        self._scheduler.shutdown(wait=stopped)
        return stopped

    def _busy(self) -> bool:
        with self._lock:
            return bool(self._running)

    def run(self, name: str) -> int:
        """Run one job; a run that lost a write-write conflict to a concurrent transaction
        (an API write, e.g. acknowledging the incident the alert job was updating) is
        rolled back and run again, up to CONFLICT_RETRIES times: a conflict is expected
        under DuckDB's optimistic concurrency, not a failure worth a traceback."""
        if not self._leads():
            return 0
        cursor = self._database.cursor()
        with self._lock:
            if self._stopping.is_set():
                cursor.close()
                return 0
            self._running[name] = cursor
        try:
            rows = self._attempts(name, cursor)
        finally:
            with self._lock:
                del self._running[name]
            cursor.close()
        if rows:
            log.debug("job %s wrote %d rows", name, rows)
        return rows

    def _attempts(self, name: str, cursor: duckdb.DuckDBPyConnection) -> int:
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                return run_job(
                    cursor,
                    JOBS[name],
                    dt.datetime.now(dt.UTC),
                    stopping=self._stopping.is_set,
                    quarantine_after=self._quarantine_after,
                )
            except JobInterrupted:
                log.info("job %s interrupted at shutdown; its chunk runs again at start", name)
                return 0
            except JobError as exc:
                if not isinstance(exc.__cause__, duckdb.TransactionException):
                    log.exception("job %s failed", name)
                    return 0
                if attempt == CONFLICT_RETRIES:
                    log.warning("%s; it runs again at its next interval", exc)
                    return 0
                log.info("job %s met a concurrent write; running it again", name)
                time.sleep(CONFLICT_BACKOFF_SECONDS * (attempt + 1))  # let it commit
        return 0
