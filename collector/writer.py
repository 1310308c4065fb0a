"""The single writer: drains the bounded ingest queue into DuckDB with group commits.

Receivers `submit` an Arrow table and wait on the returned future, which resolves only
after the transaction holding those spans has committed; concurrent requests share one
transaction. When the queue holds `max_queued_spans`, `submit` raises `QueueFull` at once
(the receivers answer 503 with Retry-After): nothing is ever dropped silently.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from collector.metrics import IngestMetrics
from warehouse.database import Database
from warehouse.ingest import insert_spans, last_batch_id

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """The ingest queue is at capacity; the client should retry later."""


class WriterStopped(Exception):
    """The writer is shutting down or has failed; the client should retry later."""


@dataclass(slots=True)
class _Pending:
    table: pa.Table
    future: Future[int]


class Writer:
    def __init__(
        self,
        database: Database,
        metrics: IngestMetrics,
        *,
        max_queued_spans: int,
        max_commit_spans: int,
    ) -> None:
        self._database = database
        self._metrics = metrics
        self._max_queued = max_queued_spans
        self._max_commit = max_commit_spans
        self._queue: collections.deque[_Pending] = collections.deque()
        self._queued_spans = 0
        self._condition = threading.Condition()
        self._accepting = False
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @property
    def queued_spans(self) -> int:
        return self._queued_spans

    @property
    def healthy(self) -> bool:
        return self._accepting and self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._accepting = True
        self._thread = threading.Thread(target=self._run, name="spendscope-writer", daemon=True)
        self._thread.start()

    def submit(self, table: pa.Table) -> Future[int]:
        """Queue spans for the next commit; the future gives the count of new spans."""
        rows = table.num_rows
        with self._condition:
            if not self._accepting:
                raise WriterStopped("the writer is not accepting spans")
            if self._queued_spans + rows > self._max_queued and self._queue:
                self._metrics.spans_refused.inc(rows)
                raise QueueFull(f"{self._queued_spans} spans are waiting to be written")
            future: Future[int] = Future()
            self._queue.append(_Pending(table, future))
            self._queued_spans += rows
            self._metrics.queued_spans.set(self._queued_spans)
            self._condition.notify()
        return future

    def stop(self, timeout: float) -> bool:
        """Stop accepting, flush what was accepted within `timeout`; True when all flushed."""
        with self._condition:
            self._accepting = False
            self._condition.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("writer did not flush within %.1f s", timeout)
                return False
        return True

    def _take_batch(self) -> list[_Pending] | None:
        with self._condition:
            while not self._queue:
                if not self._accepting:
                    return None
                self._condition.wait()
            batch: list[_Pending] = []
            rows = 0
            while self._queue and (
                not batch or rows + self._queue[0].table.num_rows <= self._max_commit
            ):
                pending = self._queue.popleft()
                batch.append(pending)
                rows += pending.table.num_rows
            return batch

    def _release(self, batch: list[_Pending]) -> None:
        with self._condition:
            self._queued_spans -= sum(p.table.num_rows for p in batch)
            self._metrics.queued_spans.set(self._queued_spans)

    def _run(self) -> None:
        cursor = self._database.cursor()
        batch_id = last_batch_id(cursor)
        try:
            while (batch := self._take_batch()) is not None:
                batch_id += 1
                self._commit(cursor, batch, batch_id)
        finally:
            cursor.close()

    def _commit(
        self, cursor: duckdb.DuckDBPyConnection, batch: list[_Pending], batch_id: int
    ) -> None:
        started = time.perf_counter()
        table = pa.concat_tables([p.table for p in batch]) if len(batch) > 1 else batch[0].table
        try:
            cursor.begin()
            inserted = insert_spans(cursor, table, batch_id, dt.datetime.now(dt.UTC))
            cursor.commit()
        except Exception as exc:  # transport boundary: every waiter learns of the failure
            log.exception("commit of %d spans failed", table.num_rows)
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._metrics.commit_failures.inc()
            try:
                cursor.rollback()
            except Exception:
                log.debug("rollback after a failed commit also failed", exc_info=True)
            self._release(batch)
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(WriterStopped(self.last_error))
            return
        self.last_error = None
        self._release(batch)
        self._metrics.commits.inc()
        self._metrics.spans_written.inc(inserted)
        self._metrics.spans_duplicate.inc(table.num_rows - inserted)
        self._metrics.commit_seconds.observe(time.perf_counter() - started)
        for pending in batch:
            if not pending.future.done():
                pending.future.set_result(pending.table.num_rows)
