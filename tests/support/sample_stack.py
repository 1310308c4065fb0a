"""A real server holding a few days of the sample product, for the dashboard's tests: the
demo's prices and budgets, and its live incidents found by the detectors."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import httpx

from sample_data.demo import DETECTION_FILE, configure_prices
from sample_data.harness.server import ServerProcess
from sample_data.product import VALUE_UNITS
from sample_data.schedule import SPIKE_DAYS_AGO, Shape
from sample_data.sender import SampleSender

# Long enough to hold the spend spike and the runaway session; small enough to be quick.
DAYS = SPIKE_DAYS_AGO + 1
SHAPE = Shape(peak_sessions_per_hour=6)
VALUE_UNIT_ENV = ",".join(f"{feature}={unit}" for feature, unit in VALUE_UNITS.items())


def populated_server(data_dir: Path, env: dict[str, str] | None = None) -> ServerProcess:
    """A started server with DAYS of sample history, priced and rolled up, and the demo's
    live incidents: the runaway session and the search spike found, alerts raised."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "detection.toml").write_text(DETECTION_FILE)
    server = ServerProcess(
        data_dir,
        env={
            "SPENDSCOPE_VALUE_UNITS": VALUE_UNIT_ENV,
            "SPENDSCOPE_DETECTION_INTERVAL_SECONDS": "2",
            "SPENDSCOPE_RUNAWAY_INTERVAL_SECONDS": "2",
            **(env or {}),
        },
    )
    server.start()
    try:
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=DAYS)
        with httpx.Client(base_url=server.http_url, headers=server.auth_headers()) as http:
            configure_prices(http, start)
        sender = SampleSender(server.http_url, seed=11)
        sender.backfill(DAYS, shape=SHAPE)
        sender.inject_incidents()
        sender.close()
        server.wait_attributed(timeout=60)
        wait_found(server, {"runaway_session", "spend_anomaly", "budget"})
    except (httpx.HTTPError, TimeoutError):
        server.kill()
        raise
    return server


def wait_found(server: ServerProcess, kinds: set[str], timeout: float = 60.0) -> None:
    """Until the detectors have found something firing of each kind."""
    deadline = time.monotonic() + timeout
    found: set[str] = set()
    while time.monotonic() < deadline:
        response = server.get("/api/v1/anomalies")
        response.raise_for_status()
        found = {a["kind"] for a in response.json()["anomalies"] if a["firing"]}
        if kinds <= found:
            return
        time.sleep(0.5)
    raise TimeoutError(f"the detectors found {sorted(found)}, not all of {sorted(kinds)}")
