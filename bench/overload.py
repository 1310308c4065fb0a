"""Overload: offer several times the measured capacity to a real server, through the real
OTel HTTP exporter, and print what happens to memory, to the answers and to the spans
(docs/reliability.md, "Overload").

    .venv/bin/python -m bench.overload [--factor 4] [--burst 15] [--capacity-seconds 8]
                                       [--batch 500] [--workers 16] [--json]
                                       [--max-queued-spans N]

The measurement (capacity, burst, drain, the figures) is `sample_data.harness.overload.run`,
which tests/collector/ingest/test_overload.py also runs, with smaller numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from sample_data.harness.overload import run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=float, default=4.0)
    parser.add_argument("--burst", type=float, default=15.0)
    parser.add_argument("--capacity-seconds", type=float, default=8.0)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--exporter-timeout", type=float, default=120.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--max-queued-spans", type=int, help="the server's SPENDSCOPE_MAX_QUEUED_SPANS"
    )
    args = parser.parse_args(argv)
    logging.getLogger("opentelemetry").setLevel(logging.ERROR)  # the exporters' retry notes
    with tempfile.TemporaryDirectory(prefix="spendscope-overload-") as tmp:
        figures = run(
            Path(tmp),
            factor=args.factor,
            burst_seconds=args.burst,
            capacity_seconds=args.capacity_seconds,
            batch=args.batch,
            workers=args.workers,
            exporter_timeout=args.exporter_timeout,
            env=(
                {"SPENDSCOPE_MAX_QUEUED_SPANS": str(args.max_queued_spans)}
                if args.max_queued_spans
                else None
            ),
        )
    if args.json:
        print(json.dumps(asdict(figures)))
    else:
        for name, value in asdict(figures).items():
            print(f"{name:28} {value}")
    ok = figures.acked_spans_missing == 0 and figures.spans_stored_twice == 0
    print("no acknowledged span lost or doubled:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
