"""The thin scheduled wrapper around the jobs: APScheduler in the serving process."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping

from apscheduler.schedulers.background import BackgroundScheduler

from warehouse.database import Database
from warehouse.jobs import JOBS, JobError, run_job

log = logging.getLogger(__name__)


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
        cursor = self._database.cursor()
        try:
            rows = run_job(
                cursor, JOBS[name], dt.datetime.now(dt.UTC), stopping=self._stopping.is_set
            )
        except JobError:
            log.exception("job %s failed", name)
            return 0
        finally:
            cursor.close()
        if rows:
            log.debug("job %s wrote %d rows", name, rows)
        return rows
