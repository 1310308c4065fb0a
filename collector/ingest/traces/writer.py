"""The span writer: ingest batches into DuckDB by group commit (see
`collector.ingest.group_commit`).

Each transaction is one ingest batch: its tables are concatenated into one Arrow table and
inserted with the next `batch_id`, the position the incremental jobs keep watermarks on.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

from collector.ingest.group_commit import GroupCommitWriter, QueueFull, WriterStopped
from collector.service_metrics import IngestMetrics
from warehouse.spans.insert import insert_spans, last_batch_id
from warehouse.store.database import Database

__all__ = ["QueueFull", "Writer", "WriterStopped"]


class SpanBatches:
    """Writes one ingest batch per transaction; each request's result is its span count."""

    def __init__(self, metrics: IngestMetrics) -> None:
        self._metrics = metrics
        self._batch_id: int | None = None
        self._inserted = 0  # new spans of the transaction under way

    def write(self, cursor: duckdb.DuckDBPyConnection, tables: list[pa.Table]) -> list[int]:
        if self._batch_id is None:
            self._batch_id = last_batch_id(cursor)
        self._batch_id += 1
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        self._inserted = insert_spans(cursor, table, self._batch_id, dt.datetime.now(dt.UTC))
        return [t.num_rows for t in tables]

    def committed(self, tables: list[pa.Table], results: list[int], seconds: float) -> None:
        metrics = self._metrics
        metrics.commits.inc()
        metrics.spans_written.inc(self._inserted)
        metrics.spans_duplicate.inc(sum(results) - self._inserted)
        metrics.commit_seconds.observe(seconds)

    def failed(self) -> None:
        self._metrics.commit_failures.inc()

    def queued(self, rows: int) -> None:
        self._metrics.queued_spans.set(rows)

    def refused(self, rows: int) -> None:
        self._metrics.spans_refused.inc(rows)


class Writer(GroupCommitWriter[int]):
    def __init__(
        self,
        database: Database,
        metrics: IngestMetrics,
        *,
        max_queued_spans: int,
        max_commit_spans: int,
    ) -> None:
        super().__init__(
            database,
            SpanBatches(metrics),
            name="span writer",
            max_queued_rows=max_queued_spans,
            max_commit_rows=max_commit_spans,
        )

    @property
    def queued_spans(self) -> int:
        return self.queued_rows
