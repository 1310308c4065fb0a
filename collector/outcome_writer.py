"""The outcome writer: stores the outcomes of OTLP log records and the API.

One thread, like the span writer: receivers `submit` an Arrow batch of outcomes and await
the future, which resolves after the transaction holding them has committed (200 means
durable); concurrent submissions share one transaction. Rows are stored without an ingest
sequence; the `outcomes` job numbers them (`warehouse.outcome_extraction.sequence`).
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from prometheus_client import CollectorRegistry, Counter, Gauge

from collector.writer import QueueFull, WriterStopped
from warehouse.database import Database
from warehouse.outcomes import insert_outcomes

log = logging.getLogger(__name__)

MAX_QUEUED_OUTCOMES = 100_000


class OutcomeMetrics:
    """Prometheus metrics of outcome ingest, on the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.log_requests = Counter(
            "spendscope_log_requests",
            "OTLP log export requests by transport and result.",
            ["transport", "result"],
            registry=registry,
        )
        self.log_records_ignored = Counter(
            "spendscope_log_records_ignored",
            "Log records received that are not outcomes (acknowledged, not stored).",
            registry=registry,
        )
        self.received = Counter(
            "spendscope_outcomes_received",
            "Outcomes decoded and accepted for writing, by source (log, api).",
            ["source"],
            registry=registry,
        )
        self.rejected = Counter(
            "spendscope_outcomes_rejected",
            "Outcomes rejected as invalid, by source (log records: OTLP partial success).",
            ["source"],
            registry=registry,
        )
        self.written = Counter(
            "spendscope_outcomes_written",
            "Outcomes from logs and the API committed to the warehouse.",
            registry=registry,
        )
        self.duplicate = Counter(
            "spendscope_outcomes_duplicate",
            "Outcomes received again (same outcome id) and skipped.",
            registry=registry,
        )
        self.commit_failures = Counter(
            "spendscope_outcome_commit_failures",
            "Outcome writer transactions that failed.",
            registry=registry,
        )
        self.queued = Gauge(
            "spendscope_queued_outcomes", "Outcomes waiting for the writer.", registry=registry
        )


@dataclass(slots=True)
class _Pending:
    rows: pa.Table
    future: Future[set[str]]


class OutcomeWriter:
    def __init__(
        self,
        database: Database,
        metrics: OutcomeMetrics,
        *,
        max_queued: int = MAX_QUEUED_OUTCOMES,
    ) -> None:
        self._database = database
        self._metrics = metrics
        self._max_queued = max_queued
        self._queue: collections.deque[_Pending] = collections.deque()
        self._queued = 0
        self._condition = threading.Condition()
        self._accepting = False
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @property
    def healthy(self) -> bool:
        return self._accepting and self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._accepting = True
        self._thread = threading.Thread(
            target=self._run, name="spendscope-outcome-writer", daemon=True
        )
        self._thread.start()

    def submit(self, rows: pa.Table) -> Future[set[str]]:
        """Queue outcomes for the next commit; the future gives the ids that were new."""
        with self._condition:
            if not self._accepting:
                raise WriterStopped("the outcome writer is not accepting outcomes")
            if self._queued + rows.num_rows > self._max_queued and self._queue:
                raise QueueFull(f"{self._queued} outcomes are waiting to be written")
            future: Future[set[str]] = Future()
            self._queue.append(_Pending(rows, future))
            self._queued += rows.num_rows
            self._metrics.queued.set(self._queued)
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
                log.error("outcome writer did not flush within %.1f s", timeout)
                return False
        return True

    def _take(self) -> list[_Pending] | None:
        """Everything queued, once there is something; None when stopped and drained."""
        with self._condition:
            while not self._queue:
                if not self._accepting:
                    return None
                self._condition.wait()
            batch = list(self._queue)
            self._queue.clear()
            return batch

    def _run(self) -> None:
        cursor = self._database.cursor()
        try:
            while (batch := self._take()) is not None:
                self._commit(cursor, batch)
        finally:
            cursor.close()

    def _commit(self, cursor: duckdb.DuckDBPyConnection, batch: list[_Pending]) -> None:
        try:
            now = dt.datetime.now(dt.UTC)
            cursor.begin()
            new_ids = [insert_outcomes(cursor, pending.rows, now) for pending in batch]
            cursor.commit()
        except Exception as exc:  # transport boundary: every waiter learns of the failure
            log.exception("outcome commit of %d batches failed", len(batch))
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._metrics.commit_failures.inc()
            try:
                cursor.rollback()
            except Exception:
                log.debug("rollback after a failed outcome commit also failed", exc_info=True)
            self._settle(batch, error=WriterStopped(self.last_error))
            return
        self.last_error = None
        for pending, new in zip(batch, new_ids, strict=True):
            self._metrics.written.inc(len(new))
            self._metrics.duplicate.inc(pending.rows.num_rows - len(new))
        self._settle(batch, results=new_ids)

    def _settle(
        self,
        batch: list[_Pending],
        *,
        results: list[set[str]] | None = None,
        error: Exception | None = None,
    ) -> None:
        with self._condition:
            self._queued -= sum(p.rows.num_rows for p in batch)
            self._metrics.queued.set(self._queued)
        for n, pending in enumerate(batch):
            if pending.future.done():
                continue
            if results is not None:
                pending.future.set_result(results[n])
            else:
                pending.future.set_exception(error or WriterStopped("outcome commit failed"))
