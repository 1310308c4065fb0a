"""Group commit: one thread owns the writes of a kind of row, in shared transactions.

Callers `submit` an Arrow table and wait on the returned future, which resolves only after
the transaction holding those rows has committed (200 means durable); everything queued
when the thread wakes, up to `max_commit_rows`, shares one transaction. The queue is
bounded: past `max_queued_rows`, `submit` raises `QueueFull` at once (the receivers answer
503 with Retry-After) and nothing is dropped silently. A failed transaction fails every
waiter with `WriterStopped`, so their clients retry.

What a transaction does is the `Batch` given to the writer: it writes the tables inside the
open transaction and returns one result per table.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import duckdb
import pyarrow as pa

from warehouse.store.database import Database
from warehouse.store.retry import is_conflict, retry_on_conflict

log = logging.getLogger(__name__)

Result = TypeVar("Result")


class QueueFull(Exception):
    """The queue is at capacity; the client should retry later."""


class WriterStopped(Exception):
    """The writer is shutting down or its commit failed; the client should retry later."""


class Tally(Protocol):
    """A counter to add to (a `prometheus_client` Counter or one of its labelled children)."""

    def inc(self, amount: float = 1) -> None: ...


class Batch(Protocol[Result]):
    """The work of one transaction, and what to count once it committed or failed."""

    def write(self, cursor: duckdb.DuckDBPyConnection, tables: list[pa.Table]) -> list[Result]:
        """Write `tables` inside the open transaction; one result per table."""
        ...

    def committed(self, tables: list[pa.Table], results: list[Result], seconds: float) -> None: ...

    def failed(self) -> None: ...

    def queued(self, rows: int) -> None:
        """The queue now holds `rows` rows."""
        ...

    def refused(self, rows: int) -> None: ...


@dataclass(slots=True)
class _Pending(Generic[Result]):
    table: pa.Table
    future: Future[Result]


class GroupCommitWriter(Generic[Result]):
    def __init__(
        self,
        database: Database,
        batch: Batch[Result],
        *,
        name: str,
        max_queued_rows: int,
        max_commit_rows: int,
        on_conflict_retry: Callable[[], None] | None = None,
    ) -> None:
        """`on_conflict_retry` counts the commits run again after losing to a concurrent
        transaction (on a lake, another node's: `warehouse.store.retry`)."""
        self._database = database
        self._on_conflict_retry = on_conflict_retry
        self._batch = batch
        self._name = name
        self._max_queued = max_queued_rows
        self._max_commit = max_commit_rows
        self._queue: collections.deque[_Pending[Result]] = collections.deque()
        self._queued_rows = 0
        self._condition = threading.Condition()
        self._accepting = False
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    @property
    def healthy(self) -> bool:
        return self._accepting and self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._accepting = True
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def submit(self, table: pa.Table) -> Future[Result]:
        """Queue rows for the next commit; the future resolves once they are committed."""
        rows = table.num_rows
        with self._condition:
            if not self.healthy:
                raise WriterStopped(f"the {self._name} is not running")
            if self._queued_rows + rows > self._max_queued and self._queue:
                self._batch.refused(rows)
                raise QueueFull(f"{self._queued_rows} rows are waiting for the {self._name}")
            future: Future[Result] = Future()
            self._queue.append(_Pending(table, future))
            self._queued_rows += rows
            self._batch.queued(self._queued_rows)
            self._condition.notify()
        return future

    async def commit(self, table: pa.Table, received: Tally, count: int) -> Result:
        """`submit` from the event loop, then await the commit. QueueFull or WriterStopped
        raise at once when the rows cannot be queued; once they are, `count` goes on
        `received`. Shielded: a client that hangs up does not cancel the commit under way."""
        future = self.submit(table)
        received.inc(count)
        return await asyncio.shield(asyncio.wrap_future(future))

    def stop(self, timeout: float) -> bool:
        """Stop accepting, flush what was accepted within `timeout`; True when all flushed."""
        with self._condition:
            self._accepting = False
            self._condition.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("%s did not flush within %.1f s", self._name, timeout)
                return False
        return True

    def _take(self) -> list[_Pending[Result]] | None:
        """What the next transaction holds; None once stopped and drained."""
        with self._condition:
            while not self._queue:
                if not self._accepting:
                    return None
                self._condition.wait()
            taken: list[_Pending[Result]] = []
            rows = 0
            while self._queue and (
                not taken or rows + self._queue[0].table.num_rows <= self._max_commit
            ):
                pending = self._queue.popleft()
                taken.append(pending)
                rows += pending.table.num_rows
            return taken

    def _run(self) -> None:
        cursor = self._database.cursor()
        try:
            while (taken := self._take()) is not None:
                self._commit(cursor, taken)
        finally:
            cursor.close()

    def _commit(self, cursor: duckdb.DuckDBPyConnection, taken: list[_Pending[Result]]) -> None:
        started = time.perf_counter()
        tables = [pending.table for pending in taken]

        def attempt() -> list[Result]:
            cursor.begin()
            try:
                written = self._batch.write(cursor, tables)
                cursor.commit()
            except duckdb.TransactionException as exc:
                if is_conflict(exc):  # rolled back: run the transaction again
                    with contextlib.suppress(duckdb.Error):
                        cursor.rollback()
                raise
            return written

        try:
            results = retry_on_conflict(attempt, on_retry=self._on_conflict_retry)
        except Exception as exc:  # transport boundary: every waiter learns of the failure
            log.exception(
                "%s: commit of %d rows failed", self._name, sum(t.num_rows for t in tables)
            )
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._batch.failed()
            try:
                cursor.rollback()
            except Exception:
                log.debug("rollback after a failed commit also failed", exc_info=True)
            self._release(taken)
            for pending in taken:
                if not pending.future.done():
                    pending.future.set_exception(WriterStopped(self.last_error))
            return
        self.last_error = None
        self._release(taken)
        self._batch.committed(tables, results, time.perf_counter() - started)
        for pending, result in zip(taken, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)

    def _release(self, taken: list[_Pending[Result]]) -> None:
        with self._condition:
            self._queued_rows -= sum(p.table.num_rows for p in taken)
            self._batch.queued(self._queued_rows)
