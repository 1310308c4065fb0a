"""A real server holding a few days of the sample product, for the dashboard's tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx

from sample_data.demo import configure_prices
from sample_data.product import VALUE_UNITS
from sample_data.schedule import SPIKE_DAYS_AGO, Shape
from sample_data.sender import SampleSender
from tests.server import ServerProcess

# Long enough to hold the spend spike and the runaway session; small enough to be quick.
DAYS = SPIKE_DAYS_AGO + 1
SHAPE = Shape(peak_sessions_per_hour=6)
VALUE_UNIT_ENV = ",".join(f"{feature}={unit}" for feature, unit in VALUE_UNITS.items())


def populated_server(data_dir: Path, env: dict[str, str] | None = None) -> ServerProcess:
    """A started server with DAYS of sample history, priced and rolled up."""
    server = ServerProcess(data_dir, env={"SPENDSCOPE_VALUE_UNITS": VALUE_UNIT_ENV, **(env or {})})
    server.start()
    try:
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=DAYS)
        with httpx.Client(base_url=server.http_url, headers=server.auth_headers()) as http:
            configure_prices(http, start)
        sender = SampleSender(server.http_url, seed=11)
        sender.backfill(DAYS, shape=SHAPE)
        sender.close()
        server.wait_attributed(timeout=60)
    except (httpx.HTTPError, TimeoutError):
        server.kill()
        raise
    return server
