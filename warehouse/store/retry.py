"""Commits that lost to a concurrent one, run again.

DuckDB (and a DuckLake, across nodes) commits optimistically: of two transactions that write
the same rows (on a lake: that update or delete in the same table, or make the same table)
the second fails at commit with a conflict. That is expected with many writers, not a
failure: `retry_on_conflict` runs the work again, a few times, after a short backoff.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import duckdb

log = logging.getLogger(__name__)

T = TypeVar("T")
ATTEMPTS = 5
BACKOFF_SECONDS = 0.05


def is_conflict(exc: BaseException) -> bool:
    """Whether `exc` is a commit that lost to a concurrent transaction."""
    return isinstance(exc, duckdb.TransactionException) and "conflict" in str(exc).lower()


def retry_on_conflict(
    work: Callable[[], T],
    *,
    attempts: int = ATTEMPTS,
    on_retry: Callable[[], None] | None = None,
) -> T:
    """`work()`, run again (up to `attempts` in all) while it fails with a conflict; it must
    be safe to repeat (its transaction rolled back whole). `on_retry` counts the repeats."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except duckdb.TransactionException as exc:
            if not is_conflict(exc) or attempt == attempts:
                raise
            log.info("commit conflict, attempt %d of %d: %s", attempt, attempts, exc)
            if on_retry is not None:
                on_retry()
            time.sleep(BACKOFF_SECONDS * attempt)
    raise AssertionError("unreachable")
