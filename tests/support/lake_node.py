"""A lake node in a process of its own, for the tests of many nodes on one lake.

`python -m tests.support.lake_node write <warehouse> <data path> <first> <count> <batches>`
commits `batches` group commits of one-span traces numbered from `first` (each `count`
long, the same numbers in every batch: a retried export), through the writer's insert.

`python -m tests.support.lake_node lead <warehouse> <data path> <node>` holds a
`Leadership` and, while it leads, runs the attribution and pricing jobs as the scheduler
does; it prints `leading <node> <term>` each time it becomes leader.
"""

from __future__ import annotations

import datetime as dt
import sys
import time

from collector.ingest.normalize import Normalizer
from collector.ingest.traces.decode import JSON, decode_traces
from sample_data.bills import BilledCall
from sample_data.harness.span_warehouse import otlp_json
from warehouse.jobs.scheduler import JobScheduler
from warehouse.pricing import job as pricing
from warehouse.spans import attribution
from warehouse.spans.insert import insert_spans
from warehouse.store import lake
from warehouse.store.database import Database
from warehouse.store.leadership import Leadership
from warehouse.store.retry import retry_on_conflict

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)


def calls(count: int) -> list[BilledCall]:
    return [
        BilledCall(NOW - dt.timedelta(seconds=n), "openai", "gpt-4o", 1000 + n, 100 + n)
        for n in range(count)
    ]


def write(database: Database, first: int, count: int, batches: int) -> None:
    decoded = decode_traces(otlp_json(calls(count), first), JSON, Normalizer())
    cursor = database.cursor()
    for batch in range(batches):

        def commit(batch: int = batch) -> None:
            cursor.begin()
            insert_spans(cursor, decoded.table, batch, NOW, lake=True)
            cursor.commit()

        retry_on_conflict(commit)


def lead(database: Database, node: str) -> None:
    leadership = Leadership(database, node)
    leadership.on_leading(lambda: print(f"leading {node} {leadership.term}", flush=True))
    scheduler = JobScheduler(database, 0.2, leads=lambda: leadership.is_leader)
    leadership.start()
    print(f"started {node}", flush=True)
    while True:
        for name in (attribution.NAME, pricing.NAME):
            scheduler.run(name)
        time.sleep(0.2)


def main(argv: list[str]) -> None:
    role, warehouse, data_path, *rest = argv
    database = Database.open_lake(lake.parse_target(warehouse, data_path))
    if role == "write":
        write(database, int(rest[0]), int(rest[1]), int(rest[2]))
    else:
        lead(database, rest[0])
    database.close()


if __name__ == "__main__":
    main(sys.argv[1:])
