"""The span writer: ingest batches into DuckDB by group commit (see
`collector.ingest.group_commit`).

Each transaction is one ingest batch: its tables are concatenated into one Arrow table and
inserted with the next `batch_id`, the position the incremental jobs keep watermarks on.
When the insert skipped some (duplicates), the skipped spans whose content differs from the
stored one are found (`conflicting_duplicates`) and handed back to their own request.

Once a transaction committed, its new spans (not the duplicates) go to the live ledger's
feed, if one is given (`warehouse.ledger.feed`): the budget check's spend, without waiting
for the jobs. The feed prices with the price book, re-read every `BOOK_SECONDS`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import logging
import time
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from collector.ingest.group_commit import GroupCommitWriter, QueueFull, WriterStopped
from collector.ingest.rejections import Rejections
from collector.service_metrics import IngestMetrics
from warehouse.ledger.feed import LedgerFeed
from warehouse.pricing.job import current_book
from warehouse.spans.insert import conflicting_duplicates, insert_spans, last_batch_id
from warehouse.store.database import Database

log = logging.getLogger(__name__)

BOOK_SECONDS = 15.0

__all__ = ["QueueFull", "Writer", "WriterStopped", "Written"]


@dataclass(slots=True)
class Written:
    """One request's outcome in its commit: its span count, and its spans rejected as
    conflicting with the span stored under their (trace_id, span_id)."""

    spans: int
    conflicts: Rejections = field(default_factory=Rejections)


class SpanBatches:
    """Writes one ingest batch per transaction; each request's result is `Written`."""

    def __init__(
        self, metrics: IngestMetrics, feed: LedgerFeed | None = None, *, lake: bool = False
    ) -> None:
        self._metrics = metrics
        self._feed = feed
        self._book_read = -BOOK_SECONDS
        self._lake = lake  # append only: the lake's readers deduplicate
        self._batch_id: int | None = None
        self._inserted = 0  # new spans of the transaction under way
        self._fresh: pa.Table | None = None  # those spans, for the ledger

    def write(self, cursor: duckdb.DuckDBPyConnection, tables: list[pa.Table]) -> list[Written]:
        if self._batch_id is None:
            self._batch_id = last_batch_id(cursor)
        self._batch_id += 1
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        self._inserted = insert_spans(
            cursor, table, self._batch_id, dt.datetime.now(dt.UTC), lake=self._lake
        )
        if self._feed is not None:
            self._for_ledger(cursor, table)
        results = [Written(t.num_rows) for t in tables]
        if self._inserted < table.num_rows:  # duplicates: are some of them other spans?
            starts = list(itertools.accumulate((t.num_rows for t in tables), initial=0))
            for conflict in conflicting_duplicates(cursor, table):
                request = results[bisect.bisect_right(starts, conflict.row) - 1]
                differ = ", ".join(conflict.differ[:4]) + (", ..." if conflict.differ[4:] else "")
                request.conflicts.reject(
                    f"span {conflict.span_id.hex()}: conflicts with a stored span of the same "
                    f"trace and span id (different {differ}); the stored one is kept"
                )
        return results

    def _for_ledger(self, cursor: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
        """Keep the new spans for the ledger; never a reason to fail the commit."""
        assert self._feed is not None
        try:
            self._fresh = self._new_spans(cursor, table)
            if time.monotonic() - self._book_read >= BOOK_SECONDS:
                self._feed.use_book(current_book(cursor))
                self._book_read = time.monotonic()
        except Exception:  # loop boundary: the spans still commit; the jobs will count them
            log.exception("the live ledger cannot take %d spans", table.num_rows)
            self._metrics.ledger_failures.inc()
            self._fresh = None

    def _new_spans(self, cursor: duckdb.DuckDBPyConnection, table: pa.Table) -> pa.Table:
        """The rows of `table` this transaction stored: all of them unless some were
        duplicates, then the first row of each key stored under this batch."""
        if self._inserted == table.num_rows:
            return table
        stored = {
            (bytes(trace), bytes(span))
            for trace, span in cursor.execute(
                "SELECT trace_id, span_id FROM spans WHERE batch_id = ?", [self._batch_id]
            ).fetchall()
        }
        keep = []
        keys = zip(table["trace_id"].to_pylist(), table["span_id"].to_pylist(), strict=True)
        for row, key in enumerate(keys):
            if key in stored:
                stored.discard(key)
                keep.append(row)
        return table.take(pa.array(keep, type=pa.int64()))

    def committed(self, tables: list[pa.Table], results: list[Written], seconds: float) -> None:
        if self._feed is not None and self._fresh is not None:
            try:
                self._feed.record(self._fresh)
            except Exception:  # loop boundary: the spans are stored; the jobs will count them
                log.exception("the live ledger could not count %d spans", self._fresh.num_rows)
                self._metrics.ledger_failures.inc()
            self._fresh = None
        metrics = self._metrics
        metrics.commits.inc()
        metrics.spans_written.inc(self._inserted)
        # The conflicting ones are counted as rejected, by the request they came in.
        skipped = sum(r.spans - r.conflicts.rejected for r in results) - self._inserted
        metrics.spans_duplicate.inc(skipped)
        metrics.commit_seconds.observe(seconds)

    def failed(self) -> None:
        self._fresh = None
        self._metrics.commit_failures.inc()

    def queued(self, rows: int) -> None:
        self._metrics.queued_spans.set(rows)

    def refused(self, rows: int) -> None:
        self._metrics.spans_refused.inc(rows)


class Writer(GroupCommitWriter[Written]):
    def __init__(
        self,
        database: Database,
        metrics: IngestMetrics,
        *,
        max_queued_spans: int,
        max_commit_spans: int,
        feed: LedgerFeed | None = None,
    ) -> None:
        super().__init__(
            database,
            SpanBatches(metrics, feed, lake=database.lake is not None),
            name="span writer",
            max_queued_rows=max_queued_spans,
            max_commit_rows=max_commit_spans,
            on_conflict_retry=metrics.commit_conflict_retries.inc,
        )

    @property
    def queued_spans(self) -> int:
        return self.queued_rows
