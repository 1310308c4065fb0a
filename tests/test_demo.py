"""`spendscope demo` end to end: backfill, ready message, live trickle, dashboard up, and
Ctrl-C (or SIGTERM) stopping every process it started."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.demo_process import DemoProcess


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone in all but name: its parent just has not reaped it yet.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def calls(demo: DemoProcess) -> int:
    total: int = demo.get("/api/v1/costs").json()["totals"]["calls"]
    return total


def test_demo_backfills_trickles_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    with DemoProcess(tmp_path / "demo", "--days", "2", "--rate", "240", "--auth") as demo:
        text = demo.text()
        assert "backfilling 2 days" in text
        assert f"Dashboard  {demo.dashboard_url}" in text
        token = text.split("API token  ", 1)[1].split()[0]
        assert demo.get("/api/v1/costs").status_code == 401  # auth is on
        headers = {"Authorization": f"Bearer {token}"}
        first = httpx.get(f"{demo.api_url}/api/v1/costs", headers=headers).json()["totals"]
        assert first["calls"] > 500
        assert httpx.get(f"{demo.dashboard_url}/_stcore/health").status_code == 200
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the live trickle keeps adding calls
            now = httpx.get(f"{demo.api_url}/api/v1/costs", headers=headers).json()["totals"]
            if now["calls"] > first["calls"]:
                break
            time.sleep(1)
        else:
            pytest.fail("no live traffic after the backfill")
        children = demo.children()
        assert len(children) == 2  # the service and the dashboard
        assert demo.stop(signal.SIGINT) == 0
        assert "spendscope demo stopped." in demo.text()
        assert not [pid for pid in children if alive(pid)]
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{demo.api_url}/readyz", timeout=2)


def test_sigterm_stops_the_demo_and_a_second_run_keeps_the_history(tmp_path: Path) -> None:
    with DemoProcess(tmp_path / "demo", "--days", "1", "--rate", "0") as demo:
        before = calls(demo)
        children = demo.children()
        assert demo.stop(signal.SIGTERM) == 0
        assert not [pid for pid in children if alive(pid)]
    with DemoProcess(tmp_path / "demo", "--days", "1", "--rate", "0") as demo:
        assert "already holds" in demo.text()
        assert calls(demo) == before
