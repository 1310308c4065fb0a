"""The spend detector's first run and rebuild at scale: seconds and peak memory.

    .venv/bin/python -m bench.detection_scale [--series 10000] [--data-dir DIR] [--reuse]
                                              [--memory-limit 4GiB] [--only first,rebuild]

1. Generates (untimed) `bench.anomaly`'s scale data: total + features + feature x model
   (`--series` in all) over the detector's history window and one hour more, hour after
   hour into `rollup_hourly` of a real migrated warehouse (`--data-dir`, else a temporary
   directory; `--reuse` keeps the data already there).
2. Measures, each in a fresh process (so its peak resident memory is its own):
   - **scan** (the baseline): opening the warehouse and one bare scan of the window's
     rollup rows;
   - **first**: `anomalies.detect` on a warehouse without detector state (a fresh install
     or an upgrade: the state is built from the whole history window);
   - **rebuild**: `anomalies.detect` when the state exists but cannot be used (changed
     settings, a re-rolled hour too far back): the state is dropped and built again.
   Printed per run: wall and CPU seconds, the process's peak RSS, and both as a ratio to
   the scan. DuckDB's `memory_limit` is the service's default on a machine of 16 GiB or
   more (`--memory-limit`, 4 GiB).

Targets (issue 16): the first run and a rebuild at 10,000 series under 60 s and under
2 GB. Exits 1 when one is missed (at 10,000 series or more).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.anomaly import SCALE, START
from warehouse.detection import anomalies
from warehouse.detection.config import AnomalyConfig
from warehouse.store.database import Database

TARGET_SECONDS = 60.0
TARGET_BYTES = 2_000_000_000
GIB = 1024**3
STATE_TABLES = ("spend_state", "spend_state_hours", "spend_state_series")


def _hours() -> int:
    return anomalies.history_hours(AnomalyConfig()) + 2


def _now() -> dt.datetime:
    """The first run's time: one minute into the last generated hour but one."""
    return START + dt.timedelta(hours=_hours() - 2, minutes=1)


def generate(path: Path, series: int) -> None:
    features = max(1, (series - 3) // 2)
    database = Database.open(path)
    cursor = database.cursor()
    started = time.perf_counter()
    cursor.execute(SCALE, {"start": START, "features": features, "hours": _hours()})
    cursor.execute("CHECKPOINT")
    database.close()
    took = time.perf_counter() - started
    print(f"generated {_hours()} hours x {features:,} features in {took:.1f} s (untimed)")


def prepare(path: Path, mode: str) -> None:
    """Before `first`: no state at all; before `rebuild`: a state that cannot be used."""
    database = Database.open(path)
    cursor = database.cursor()
    if mode == "first":
        for table in STATE_TABLES:
            cursor.execute(f"DELETE FROM {table}")
    else:
        (rows,) = cursor.execute("SELECT count(*) FROM spend_state").fetchone() or (0,)
        if not rows:
            raise SystemExit("rebuild: run `first` before it (no state to rebuild)")
        # As after a change of the baseline settings: every hour's fingerprint differs.
        cursor.execute("UPDATE spend_state_hours SET config = 'changed'")
    cursor.execute("CHECKPOINT")
    database.close()


def child(path: Path, mode: str, memory_limit: int) -> None:
    """One measured run in this process; prints its figures as JSON."""
    wall, cpu = time.perf_counter(), time.process_time()
    database = Database.open(path, memory_limit_bytes=memory_limit)
    cursor = database.cursor()
    now = _now()
    window = now - dt.timedelta(hours=_hours() - 1)
    if mode == "scan":
        cursor.execute(
            "SELECT sum(cost_usd::DOUBLE), count(*) FROM rollup_hourly "
            "WHERE hour >= $start AND hour < $end",
            {"start": window, "end": now},
        ).fetchall()
        detail = "the scan"
    else:
        signals = anomalies.detect(cursor, now, AnomalyConfig())
        (series,) = cursor.execute("SELECT count(*) FROM spend_state_series").fetchone() or (0,)
        detail = f"{series:,} series in the state, {len(signals)} signals"
    (held,) = cursor.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone() or (
        0,
    )
    detail += f"; DuckDB holds {int(held or 0) / 1e9:.2f} GB at the end"
    database.close()
    figures = {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "detail": detail,
    }
    print(json.dumps(figures))


def measure(path: Path, mode: str, memory_limit: int) -> dict[str, float | str]:
    command = [sys.executable, "-m", "bench.detection_scale", "--data-dir", str(path.parent)]
    command += ["--child", mode, "--memory-limit", str(memory_limit)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    figures: dict[str, float | str] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--memory-limit", type=int, default=4 * GIB, help="bytes")
    parser.add_argument("--only", default="first,rebuild")
    parser.add_argument("--child", choices=("scan", "first", "rebuild"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-detection-scale-"))
    path = data_dir / "spendscope.duckdb"
    if args.child:
        child(path, args.child, args.memory_limit)
        return 0
    if not (args.reuse and path.exists()):
        generate(path, args.series)
    scan = measure(path, "scan", args.memory_limit)
    print(
        f"scan (baseline): {scan['wall']:.2f} s ({scan['cpu']:.2f} s CPU), "
        f"peak RSS {float(scan['peak_rss']) / 1e9:.2f} GB"
    )
    missed = []
    for mode in args.only.split(","):
        prepare(path, mode)
        run = measure(path, mode, args.memory_limit)
        wall, rss = float(run["wall"]), float(run["peak_rss"])
        print(
            f"{mode}: {wall:.2f} s ({float(run['cpu']):.2f} s CPU) = "
            f"{wall / float(scan['wall']):.1f}x the scan; peak RSS {rss / 1e9:.2f} GB = "
            f"{rss / float(scan['peak_rss']):.1f}x the scan's; {run['detail']}"
        )
        if args.series >= 10_000 and (wall > TARGET_SECONDS or rss > TARGET_BYTES):
            missed.append(mode)
    print(f"data: {path}")
    target = f"under {TARGET_SECONDS:.0f} s and {TARGET_BYTES / 1e9:.0f} GB"
    print(f"missed ({target}): " + ", ".join(missed) if missed else f"target met ({target})")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
