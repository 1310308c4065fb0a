"""`spendscope demo` started again on the same data (issue 17, items 2 and 3): a restart's
live traffic has new ids, so none of it is taken for a duplicate of a weeks-old span; and a
first backfill cut short by Ctrl-C is sent again by the next start, which says so, and ends
with exactly the history of an uninterrupted one."""

from __future__ import annotations

import datetime as dt
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from sample_data.harness.child_process import clean_environment
from sample_data.schedule import LIVE_RUNAWAY_PREFIX, LIVE_SPIKE_SESSIONS
from tests.support.demo_process import DemoProcess

T = TypeVar("T")
# What each start sends besides the history: the spike's search sessions (an embedding and
# a chat call each) and the runaway (a triage call and 90 turns).
INCIDENT_CALLS = LIVE_SPIKE_SESSIONS * 2 + 91


def eventually(read: Callable[[], T], good: Callable[[T], bool], timeout: float = 120) -> T:
    """`read()` once it is `good`, polling; the last value in the failure otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if good(value) or time.monotonic() > deadline:
            assert good(value), f"still {value!r} after {timeout:.0f} s"
            return value
        time.sleep(1)


def calls(demo: DemoProcess) -> int:
    response = demo.get("/api/v1/costs")
    response.raise_for_status()
    return int(response.json()["totals"]["calls"])


def live_runaways(demo: DemoProcess) -> dict[str, dict[str, Any]]:
    response = demo.get("/api/v1/sessions", limit=50)
    response.raise_for_status()
    sessions = response.json()["sessions"]
    return {s["session_id"]: s for s in sessions if s["session_id"].startswith(LIVE_RUNAWAY_PREFIX)}


def test_a_restart_sends_new_ids_and_attributes_them_to_new_sessions(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    with DemoProcess(data, "--days", "1", "--rate", "0") as first:
        before = eventually(lambda: live_runaways(first), lambda found: len(found) == 1)
        assert next(iter(before.values()))["calls"] == 91
        history = eventually(lambda: calls(first), lambda n: n > INCIDENT_CALLS)
        time.sleep(3)
        assert calls(first) == history  # settled: --rate 0 sends nothing more
    with DemoProcess(data, "--days", "1", "--rate", "0") as second:
        assert "already holds" in second.text()
        # Every call the restart sends is stored: none is a "duplicate" of an old span.
        eventually(lambda: calls(second), lambda n: n == history + INCIDENT_CALLS)
        after = eventually(lambda: live_runaways(second), lambda found: len(found) == 2)
    new = {k: v for k, v in after.items() if k not in before}
    assert len(new) == 1
    (runaway,) = new.values()
    assert runaway["calls"] == 91  # its own calls, none of an old session's
    assert runaway["traces"] == 1
    started = dt.datetime.fromisoformat(runaway["first_call_at"].replace("Z", "+00:00"))
    assert dt.datetime.now(dt.UTC) - started < dt.timedelta(
        minutes=15
    )  # the restart's, not weeks old
    assert after[next(iter(before))] == before[next(iter(before))]  # the old one untouched


def gpu_cost(demo: DemoProcess) -> float:
    response = demo.get("/api/v1/gpu/efficiency")
    response.raise_for_status()
    return float(response.json()["totals"]["cost_usd"] or 0)


def test_an_interrupted_first_backfill_is_sent_again_and_ends_whole(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    days = 10
    first = DemoProcess(data, "--days", str(days), "--rate", "0")
    data.mkdir(parents=True)
    ports = [f"--http-port={first.http_port}", f"--grpc-port={first.grpc_port}"]
    args = [f"--data-dir={data}", *ports, f"--dashboard-port={first.dashboard_port}"]
    with first.output.open("wb") as out:  # started as DemoProcess does, without waiting
        first.process = subprocess.Popen(
            [sys.executable, "-m", "collector", "demo", *args, f"--days={days}", "--rate=0"],
            env={**clean_environment(), "COLUMNS": "200"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        eventually(lambda: calls_or_zero(first), lambda n: n > 0, timeout=180)
    finally:
        assert first.stop(signal.SIGINT) == 0  # Ctrl-C in the middle of the backfill
    assert "spendscope demo stopped." in first.text()
    assert "model calls," not in first.text(), "the backfill finished before the Ctrl-C"
    with DemoProcess(data, "--days", "3", "--rate", "0") as second:
        text = second.text()
        assert "was interrupted after" in text
        assert f"of {days} days" in text  # the first start's window, not --days 3
        assert "already holds" not in text
        sent = re.search(r"sent [\d,]+ traces with ([\d,]+) model calls", text)
        assert sent, text
        # Exactly the history of an uninterrupted backfill plus this start's incidents:
        # what the first start stored was not stored twice, and nothing is missing.
        expected = int(sent.group(1).replace(",", "")) + INCIDENT_CALLS
        eventually(lambda: calls(second), lambda n: n == expected)
        # The GPU metrics came after the spans: the first start sent none of them.
        hours = days * 24
        eventually(lambda: gpu_cost(second), lambda usd: usd >= 0.71 * hours * 0.95)
    with DemoProcess(data, "--days", "3", "--rate", "0") as third:
        assert "already holds" in third.text()  # complete now: not sent a third time
        assert "was interrupted after" not in third.text()


def calls_or_zero(demo: DemoProcess) -> int:
    try:
        return calls(demo)
    except httpx.HTTPError:
        return 0
