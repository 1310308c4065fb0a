"""Many nodes on one lake, each a real process (`tests.support.lake_node`).

Two processes commit to the lake at once, the same spans among them (an export retried
through another node): every commit lands, each span is read once. Two processes contend
for the job runner's lease: one leads; killed with SIGKILL, the other takes over within
30 s, and the model calls are attributed and priced once each, whoever ran the jobs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from tests.support.paths import REPO
from warehouse.store.database import Database
from warehouse.store.leadership import DEFAULT_TTL_SECONDS

TAKEOVER_SECONDS = 30.0


def _node(*args: str, log: IO[str] | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.lake_node", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log or subprocess.DEVNULL,
        text=True,
    )


def test_two_processes_commit_at_once_and_each_span_is_read_once(
    lake_database: Database, lake_url: str, tmp_path: Path
) -> None:
    data = str(tmp_path / "lake-data")
    # Node one: spans 1..200, five times over; node two: 101..300, five times over.
    nodes = [_node("write", lake_url, data, "1", "200", "5"),
             _node("write", lake_url, data, "101", "200", "5")]  # fmt: skip
    for node in nodes:
        assert node.wait(timeout=240) == 0
    cursor = lake_database.cursor()
    assert cursor.execute("SELECT count(*) FROM main.spans").fetchone() == (2000,)
    assert cursor.execute(
        "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans"
    ).fetchone() == (300, 300)
    # Ten commits, ten snapshots: each batch id is one commit's, in commit order.
    batches = cursor.execute("SELECT count(DISTINCT snapshot_id) FROM main.spans").fetchone()
    assert batches == (10,)


def _wait_for_line(node: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    assert node.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = node.stdout.readline()
        if line.startswith(prefix):
            return line.strip()
        if not line and node.poll() is not None:
            raise AssertionError(f"node exited ({node.returncode}) before {prefix!r}")
    raise AssertionError(f"no {prefix!r} within {timeout} s")


def _holder(database: Database) -> tuple[str | None, int]:
    cursor = database.cursor()
    row = cursor.execute("SELECT holder, term FROM leader_lease").fetchone()
    assert row is not None
    return row[0], int(row[1])


def test_a_killed_leader_is_replaced_within_30_s_and_nothing_is_computed_twice(
    lake_database: Database, lake_url: str, tmp_path: Path
) -> None:
    data = str(tmp_path / "lake-data")
    logs = [(tmp_path / f"node-{name}.log").open("w") for name in "ab"]
    nodes = {
        name: _node("lead", lake_url, data, name, log=log)
        for name, log in zip("ab", logs, strict=True)
    }
    try:
        for node in nodes.values():
            _wait_for_line(node, "started", 120)
        first_holder, first_term = None, 0
        deadline = time.monotonic() + 60
        while first_holder is None and time.monotonic() < deadline:
            first_holder, first_term = _holder(lake_database)
            time.sleep(0.5)
        assert first_holder in nodes
        writer = _node("write", lake_url, data, "1", "50", "2")
        assert writer.wait(timeout=120) == 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _priced(lake_database) < 50:
            time.sleep(0.5)
        assert _priced(lake_database) == 50
        nodes[first_holder].send_signal(signal.SIGKILL)
        nodes[first_holder].wait()
        killed_at = time.monotonic()
        follower = "b" if first_holder == "a" else "a"
        _wait_for_line(nodes[follower], f"leading {follower}", TAKEOVER_SECONDS + 5)
        took = time.monotonic() - killed_at
        assert took < TAKEOVER_SECONDS, took
        assert took < DEFAULT_TTL_SECONDS * 4 / 3 + 5
        holder, term = _holder(lake_database)
        assert (holder, term) == (follower, first_term + 1)
        # New spans after the takeover are attributed and priced by the new leader.
        writer = _node("write", lake_url, data, "51", "50", "1")
        assert writer.wait(timeout=120) == 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _priced(lake_database) < 100:
            time.sleep(0.5)
    finally:
        for node in nodes.values():
            node.kill()
            node.wait()
        for log in logs:
            log.close()
    cursor = lake_database.cursor()
    assert _priced(lake_database) == 100
    # Once each: no key twice in the tables the jobs write (a lake has no key to refuse it).
    for table in ("model_calls", "call_costs"):
        assert cursor.execute(
            f"SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM {table}"
        ).fetchone() == (100, 100), table


def _priced(database: Database) -> int:
    row = database.cursor().execute("SELECT count(*) FROM call_costs").fetchone()
    return int(row[0]) if row else 0
