"""Which node runs the jobs and the alert delivery: one leader per lake, by a lease.

On the embedded file the process is alone, so it always leads. On a lake every node holds a
`Leadership` that renews a lease row (`leader_lease`, made once with the lake's own tables by
`warehouse.store.lake`) every `ttl / 3` seconds: the holder extends it, any node takes it
once it has expired (a dead leader's lapses within `ttl`, so a follower takes over within
`ttl + ttl / 3`), and each change of holder raises `term`. Two nodes renewing at once both
update the one row, so DuckLake lets only the first commit and the other stays a follower.

A PostgreSQL advisory lock would release faster on a crash, but DuckDB's postgres extension
pools its connections and resets a session when it goes back to the pool, which drops the
lock: the lease lives in the lake's own transactions instead. A node leads only while its
lease has `margin` seconds to run by its own clock (`is_leader`), so a leader that stalls
stops before another may start; the jobs stay safe even if two overlap, since each chunk
commits its watermark in `job_state` with its writes and DuckLake refuses the second of two
transactions that update it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

import duckdb

from warehouse.store.database import Database

log = logging.getLogger(__name__)

LEASE = "jobs"
DEFAULT_TTL_SECONDS = 15.0


class Leadership:
    def __init__(
        self,
        database: Database,
        node: str,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._database = database
        self.node = node
        self.ttl = ttl_seconds
        self.margin = ttl_seconds / 5
        self._clock = clock
        self._until = float("inf") if database.lake is None else 0.0
        self.term = 1 if database.lake is None else 0
        self.changes = 0  # times this node became leader
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._became: list[Callable[[], None]] = []

    @property
    def is_leader(self) -> bool:
        return self._clock() < self._until - self.margin

    def on_leading(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from the renewing thread) each time this node becomes leader."""
        self._became.append(callback)

    def renew(self) -> bool:
        """One attempt to take or extend the lease; whether this node leads now."""
        if self._database.lake is None:
            return True
        was = self.is_leader
        now = self._clock()
        cursor = self._database.cursor()
        try:
            cursor.begin()
            holder, expires, term = self._read(cursor)
            if holder != self.node and expires is not None and expires > now:
                cursor.rollback()
                self._until = 0.0
                return False
            new_term = term if holder == self.node and expires and expires > now else term + 1
            cursor.execute(
                "UPDATE leader_lease SET holder = ?, expires_at = ?, term = ? WHERE name = ?",
                [self.node, _timestamp(now + self.ttl), new_term, LEASE],
            )
            cursor.commit()
        except duckdb.Error as exc:
            # Another node renewed at the same moment (a conflict) or the catalog is away.
            log.info("leader lease not renewed by %s: %s", self.node, exc)
            _rollback(cursor)
            self._until = 0.0 if not was else self._until
            return self.is_leader
        finally:
            cursor.close()
        self._until, self.term = now + self.ttl, new_term
        if not was:
            self.changes += 1
            log.info("node %s leads the jobs (term %d)", self.node, new_term)
            for callback in self._became:
                callback()
        return True

    def _read(self, cursor: duckdb.DuckDBPyConnection) -> tuple[str | None, float | None, int]:
        row = cursor.execute(
            "SELECT holder, epoch(expires_at), term FROM leader_lease WHERE name = ?", [LEASE]
        ).fetchone()
        if row is None:
            raise LookupError("the lake has no leader lease row (was it migrated?)")
        return row[0], None if row[1] is None else float(row[1]), int(row[2])

    def release(self) -> None:
        """Give the lease up (at shutdown), so that a follower takes over at once."""
        if self._database.lake is None or not self.is_leader:
            return
        self._until = 0.0
        cursor = self._database.cursor()
        try:
            cursor.execute(
                "UPDATE leader_lease SET expires_at = NULL WHERE name = ? AND holder = ?",
                [LEASE, self.node],
            )
        except duckdb.Error as exc:
            log.warning("leader lease not released by %s: %s", self.node, exc)
        finally:
            cursor.close()

    def start(self) -> None:
        self.renew()
        if self._database.lake is None:
            return
        self._thread = threading.Thread(target=self._loop, name="leadership", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.renew()
            except Exception:  # the loop's boundary: keep renewing; logged with its cause
                log.exception("leader lease renewal failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.ttl)
        self.release()


def _timestamp(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)


def _rollback(cursor: duckdb.DuckDBPyConnection) -> None:
    # A failed commit may have ended the transaction already: nothing to roll back then.
    with contextlib.suppress(duckdb.Error):
        cursor.rollback()
