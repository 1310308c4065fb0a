"""`spendscope demo` end to end: backfill, live trickle, a second run keeping the history,
and SIGTERM stopping every process it started. (Ctrl-C, auth and the dashboard itself:
tests/e2e/test_dashboard_e2e.py, on its own demo.)"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.demo_process import DemoProcess


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (gone in all but name, awaiting its reaper)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def calls(demo: DemoProcess) -> int:
    response = demo.get("/api/v1/costs")
    response.raise_for_status()
    total: int = response.json()["totals"]["calls"]
    return total


def test_demo_trickles_stops_on_sigterm_and_keeps_its_history(tmp_path: Path) -> None:
    with DemoProcess(tmp_path / "demo", "--days", "1", "--rate", "240") as demo:
        assert "backfilling 1 days" in demo.text()
        assert f"Dashboard  {demo.dashboard_url}" in demo.text()
        first = calls(demo)
        assert first > 200
        # The sample bill of the backfilled day, with its gpt-4o-mini discount unknown to
        # the price book: the reconciliation page has something to show.
        assert "imported a sample provider bill" in demo.text()
        report = demo.get("/api/v1/reconciliation").json()
        causes = {(m["model"], m["cause"]) for m in report["models"]}
        assert ("gpt-4o-mini", "price_differs") in causes, report["models"]
        deadline = time.monotonic() + 60
        while calls(demo) <= first:  # the live trickle keeps adding calls
            if time.monotonic() > deadline:
                pytest.fail("no live traffic after the backfill")
            time.sleep(1)
        children = demo.children()
        assert len(children) == 2  # the service and the dashboard
        before = calls(demo)
        assert demo.stop(signal.SIGTERM) == 0
        assert "spendscope demo stopped." in demo.text()
        assert not [pid for pid in children if alive(pid)]
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{demo.api_url}/readyz", timeout=2)
    with DemoProcess(tmp_path / "demo", "--days", "1", "--rate", "0") as demo:
        assert "already holds" in demo.text()
        assert "backfilling" not in demo.text()
        assert calls(demo) >= before
