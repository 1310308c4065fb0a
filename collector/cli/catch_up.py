"""Catch the jobs up on a stopped service's database: what `spendscope jobs run` and
`spendscope gate record` do once the service that ingested the spans has stopped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from collector.alerting.wiring import alert_policy
from collector.api.price_catalog import CatalogSource
from collector.settings import Settings
from warehouse.config import sync as config_sync
from warehouse.gpu import prices as gpu_prices
from warehouse.incidents.policy import store_policy
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.store.database import Database


def run_jobs(database: Database, settings: Settings, names: list[str]) -> Iterator[tuple[str, int]]:
    """Load the configuration the service would, then run `names` (in that order) once each,
    yielding each job's name and the rows it wrote. A failing job raises JobError; its
    watermark is kept."""
    cursor = database.cursor()
    try:
        config_sync.sync_price_file(cursor, settings.data_dir, gpu_prices)
        CatalogSource.from_settings(database, settings).load()
        store_policy(cursor, alert_policy(settings), dt.datetime.now(dt.UTC))
        config_sync.sync_detection_file(cursor, settings.data_dir)
        for name in names:
            rows = run_job(
                cursor,
                JOBS[name],
                dt.datetime.now(dt.UTC),
                quarantine_after=settings.job_quarantine_after_failures,
            )
            yield name, rows
    finally:
        cursor.close()
