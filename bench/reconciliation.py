"""Reconciliation benchmark: does bill-vs-spans find each injected difference, and its size?

    .venv/bin/python -m bench.reconciliation [--days 14] [--calls-per-day 300]

Traffic of four models (OpenAI gpt-4o-mini and gpt-4o, Anthropic claude-3-5-haiku, a Claude
model on Amazon Bedrock) over `--days` days is priced by spendscope in a real warehouse
(spans through the collector's decoder, the attribution, pricing and rollup jobs); a bill is
generated from the same traffic (`sample_data.harness.bill_scenario`): OpenAI Usage and
Costs pages, Anthropic usage and cost report pages, and a FOCUS CSV, with three differences
injected: 3 % of the calls never reach spendscope, gpt-4o-mini is billed 15 % below list (a
negotiated discount spendscope has no override for), and 30 % of the haiku calls are
billed at the batch tier (half price, a tier spendscope does not price). The bills are
imported (twice: the second import must change nothing) and reconciled.

Prints each difference as injected and as found, and the other parts (what was wrongly
attributed); exits 1 when a difference is found off by more than 0.5 % of its size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from sample_data.harness.bill_scenario import build, found
from sample_data.harness.span_warehouse import SpanWarehouse
from warehouse.reconciliation.config import ReconciliationConfig
from warehouse.reconciliation.formats import parse_bill, sha256
from warehouse.reconciliation.load import reconciliation
from warehouse.reconciliation.store import import_bill
from warehouse.store.database import Database

TOLERANCE = Decimal("0.005")
FIRST_DAY = dt.date(2026, 10, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--calls-per-day", type=int, default=300, help="per model")
    args = parser.parse_args()
    scenario = build(FIRST_DAY, args.days, args.calls_per_day)
    now = dt.datetime.combine(FIRST_DAY + dt.timedelta(days=args.days + 1), dt.time(), dt.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        database = Database.open(Path(tmp) / "spendscope.duckdb")
        cursor = database.cursor()
        started = time.perf_counter()
        SpanWarehouse(cursor).ingest(scenario.instrumented, now)
        ingest_s = time.perf_counter() - started
        for attempt in (1, 2):
            for name, content in scenario.files.items():
                result = import_bill(cursor, parse_bill(content, name), name, sha256(content), now)
                if attempt == 2 and result.status != "unchanged":
                    print(f"second import of {name} changed something: {result}")
                    return 1
        started = time.perf_counter()
        last = FIRST_DAY + dt.timedelta(days=args.days)
        rows = reconciliation(cursor, FIRST_DAY, last, ReconciliationConfig())
        reconcile_s = time.perf_counter() - started
        database.close()
    print(
        f"{len(scenario.calls):,} calls metered, {len(scenario.instrumented):,} instrumented "
        f"(priced in {ingest_s:.1f} s); {len(rows)} rows reconciled in {reconcile_s:.2f} s"
    )
    billed = sum((r.billed_usd or Decimal(0) for r in rows), Decimal(0))
    ours = sum((r.span_usd for r in rows), Decimal(0))
    print(f"billed ${billed:,.4f}, spendscope ${ours:,.4f}, gap ${billed - ours:,.4f}")
    print(f"{'difference':<28}{'injected USD':>16}{'found USD':>16}{'error':>10}")
    failed = False
    for name, injected in scenario.expected.items():
        got = found(rows)[name]
        error = abs(got - injected) / abs(injected)
        failed |= error > TOLERANCE
        print(f"{name:<28}{injected:>16.6f}{got:>16.6f}{error:>10.3%}")
    other = {
        part: sum((r.parts[part] for r in rows), Decimal(0))
        for part in ("tokens_counted_differently", "unpriced_calls", "other_charges")
    }
    print("other parts: " + ", ".join(f"{k} ${v:.6f}" for k, v in other.items()))
    causes: dict[str, int] = {}
    for r in rows:
        causes[r.cause] = causes.get(r.cause, 0) + 1
    print("row causes: " + ", ".join(f"{k} {v}" for k, v in sorted(causes.items())))
    print("FAIL: off by more than 0.5 %" if failed else "OK: each within 0.5 % of its size")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
