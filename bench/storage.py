"""What one span costs DuckDB: the writer's INSERT, with and without the primary key.

    .venv/bin/python -m bench.storage [--batches 30] [--batch-spans 10000]

Decodes realistic spans once (`sample_data.harness.payloads`), then, on one core and one DuckDB
thread,
inserts them batch by batch into fresh database files, each commit as the writer does it,
and prints CPU and wall time per 1000 spans:

- `warehouse`: the real `spans` table built by the migrations, the real `insert_spans`
  (INSERT OR IGNORE on the (trace_id, span_id) primary key), default checkpointing;
- `no primary key`: the same columns without the key (plain INSERT), for comparison;
- `warehouse, checkpoint 1 GB`: the real table with `checkpoint_threshold` raised, so the
  index is rewritten less often (DuckDB rewrites a table's whole ART index at checkpoint).

It also prints the time of a CHECKPOINT as the keyed table grows, which is what makes the
per-span cost of the key grow with the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from collector.ingest.normalize import Normalizer
from collector.ingest.traces.decode import PROTOBUF, decode_traces
from sample_data.harness.payloads import make_template, request_prefix
from warehouse.spans.insert import INSERT_SPANS, insert_spans
from warehouse.store.database import Database


def decoded_batches(count: int, spans: int) -> list[pa.Table]:
    normalizer = Normalizer()
    template = make_template(1000, 7, json=False)
    per_batch = max(1, spans // 1000)
    tables = []
    for b in range(count):
        parts = [
            decode_traces(
                template.stamp(request_prefix(b, 0, n, json=False)), PROTOBUF, normalizer
            ).table
            for n in range(per_batch)
        ]
        tables.append(pa.concat_tables(parts))
    return tables


def run(
    label: str, batches: Sequence[pa.Table], *, keyed: bool, settings: Sequence[str] = ()
) -> float:
    """Insert `batches` into a fresh database as the writer does; print and return the
    CPU microseconds per span."""
    with tempfile.TemporaryDirectory(prefix="spendscope-storage-") as tmp:
        database = Database.open(Path(tmp) / "bench.duckdb")
        cursor = database.cursor()
        cursor.execute("SET threads = 1")
        for setting in settings:
            cursor.execute(setting)
        sql = INSERT_SPANS
        if not keyed:
            cursor.execute("CREATE TABLE spans_nokey AS SELECT * FROM spans LIMIT 0")
            sql = INSERT_SPANS.replace("INSERT OR IGNORE INTO spans", "INSERT INTO spans_nokey")
        rows = 0
        wall, cpu = time.perf_counter(), time.process_time()
        for batch_id, table in enumerate(batches, 1):
            cursor.begin()
            if keyed:
                insert_spans(cursor, table, batch_id, dt.datetime.now(dt.UTC))
            else:
                cursor.register("incoming", table)
                cursor.execute(sql, {"batch_id": batch_id, "received_at": dt.datetime.now()})
                cursor.unregister("incoming")
            cursor.commit()
            rows += table.num_rows
        cursor.execute("CHECKPOINT")  # what is left to write is part of the cost
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        cursor.close()
        database.close()
    print(
        f"  {label:<28} {cpu / rows * 1e6:6.1f} us CPU, {wall / rows * 1e6:6.1f} us wall per "
        f"span ({rows / cpu:,.0f} spans per CPU-second)"
    )
    return cpu / rows * 1e6


def _checkpoint_growth(batches: Sequence[pa.Table]) -> None:
    with tempfile.TemporaryDirectory(prefix="spendscope-storage-") as tmp:
        connection = duckdb.connect(str(Path(tmp) / "keys.duckdb"))
        connection.execute("SET threads = 1")
        connection.execute("SET checkpoint_threshold = '100GB'")
        connection.execute(
            "CREATE TABLE k (trace_id BLOB, span_id BLOB, PRIMARY KEY (trace_id, span_id))"
        )
        rows = 0
        for index, table in enumerate(batches):
            keys = table.select(["trace_id", "span_id"])
            connection.register("incoming", keys)
            connection.execute("INSERT OR IGNORE INTO k SELECT * FROM incoming")
            connection.unregister("incoming")
            rows += keys.num_rows
            cpu = time.process_time()
            connection.execute("CHECKPOINT")
            cpu = time.process_time() - cpu
            if index % max(1, len(batches) // 5) == 0 or index == len(batches) - 1:
                print(
                    f"  {rows:>9,} keys: CHECKPOINT {cpu * 1000:6.1f} ms CPU for "
                    f"{keys.num_rows:,} new keys ({cpu / keys.num_rows * 1e6:.1f} us per new key)"
                )
        connection.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storage", description=__doc__)
    parser.add_argument("--batches", type=int, default=30, help="group commits per run")
    parser.add_argument("--batch-spans", type=int, default=10_000, help="spans per commit")
    parser.add_argument("--cpu", type=int, default=0, help="core to pin to")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {args.cpu})
    print(f"decoding {args.batches} x {args.batch_spans:,} spans ...", flush=True)
    batches = decoded_batches(args.batches, args.batch_spans)
    print(f"DuckDB {duckdb.__version__}, 1 thread, commits of {args.batch_spans:,} spans:")
    run("warehouse (primary key)", batches, keyed=True)
    run("no primary key", batches, keyed=False)
    run(
        "warehouse, checkpoint 1 GB",
        batches,
        keyed=True,
        settings=["SET checkpoint_threshold = '1GB'"],
    )
    print("checkpoint of the (trace_id, span_id) index as it grows:")
    _checkpoint_growth(batches)
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
