"""Crediting the live ledger from committed spans: price each model call with the price book
and attribute it as far as the spans seen so far allow, without waiting for the jobs.

`LedgerFeed.record(table)` takes spans that were just committed for the first time (the
span writer passes only new ones, so a re-sent span never counts twice) in the ingest
table's columns (`COLUMNS`). For each model call:

- dimensions (tenant, session, feature): its own, each filled from its nearest ancestor the
  feed remembers, then from any span of its trace; the feature last from its
  `feature_default`, as the attribution job does. A call none of whose dimensions is known
  counts in the totals at once and waits (`PENDING_SECONDS`) for a span of its trace that
  names them, then counts there too: the OTel SDK exports a long agent span after its calls;
- layers (`warehouse.spans.layering`): a model call right under, or right over, a counted
  model call with the same input and output tokens is the same call seen by a second
  instrumentation, and is not counted again;
- cost: `warehouse.ledger.call_price.call_cost` with the periods the book resolves for its
  (provider, model); a call without a price counts as unpriced, never as $0.

The jobs remain the figures of record: they price exactly (layers across batches, GPU shares,
prices changed afterwards) and the ledger is refilled from them at the next start-up.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

from warehouse.ledger.call_price import Usage, call_cost
from warehouse.ledger.ledger import Dimensions, LiveLedger
from warehouse.pricing.periods import Period
from warehouse.pricing.pricebook import PriceBook

MAX_SPANS = 200_000  # spans remembered for ancestors and layers
PENDING_SECONDS = 3600.0
MAX_PENDING = 50_000
MAX_DEPTH = 64

USAGE_COLUMNS = (
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "cache_write_1h_tokens", "input_audio_tokens", "input_image_tokens",
    "output_audio_tokens", "output_image_tokens", "web_search_calls", "service_tier",
)  # fmt: skip
COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "start_ns", "is_model_call", "provider",
    "request_model", "response_model", "feature", "feature_default", "session_id",
    "tenant_id", *USAGE_COLUMNS,
)  # fmt: skip

SpanKey = tuple[bytes, bytes]


@dataclass(slots=True)
class _Seen:
    parent: bytes | None
    dims: Dimensions
    usage: tuple[int, int] | None  # a counted model call's (input, output) tokens


@dataclass(slots=True)
class _Pending:
    at: dt.datetime
    cost: Decimal | None
    feature_default: str | None
    queued: float


def _fill(own: Dimensions, other: Dimensions) -> Dimensions:
    return Dimensions(
        own.tenant_id if own.tenant_id is not None else other.tenant_id,
        own.session_id if own.session_id is not None else other.session_id,
        own.feature if own.feature is not None else other.feature,
    )


def _layer_usage(row: dict[str, Any]) -> tuple[int, int] | None:
    usage = (row["input_tokens"] or 0, row["output_tokens"] or 0)
    return usage if usage[0] > 0 and usage[1] > 0 else None


class LedgerFeed:
    """What the ledger is fed with, and what it needs to remember to attribute and price."""

    def __init__(self, ledger: LiveLedger, book: PriceBook | None = None) -> None:
        self.ledger = ledger
        self._book = book
        self._keys: dict[tuple[str, str], list[Period]] = {}
        self._spans: collections.OrderedDict[SpanKey, _Seen] = collections.OrderedDict()
        self._traces: collections.OrderedDict[bytes, Dimensions] = collections.OrderedDict()
        self._under: dict[SpanKey, tuple[int, int]] = {}  # parent -> a counted call's usage
        self._pending: collections.OrderedDict[bytes, list[_Pending]] = collections.OrderedDict()
        self._lock = threading.Lock()  # the writer and the start-up seed both record
        self.calls = 0
        self.layers_skipped = 0

    def use_book(self, book: PriceBook) -> None:
        """Price from `book` on (a changed price book: re-resolve the keys)."""
        with self._lock:
            if self._book is None or book.fingerprint != self._book.fingerprint:
                self._book = book
                self._keys.clear()

    def _periods(self, provider: str, model: str) -> list[Period]:
        key = (provider, model)
        if key not in self._keys:
            self._keys[key] = self._book.resolve(provider, model)[1] if self._book else []
        return self._keys[key]

    def record(self, table: pa.Table, now: Callable[[], float] = time.monotonic) -> int:
        """Credit the model calls of newly committed spans; returns the calls counted."""
        if table.num_rows == 0:
            return 0
        rows = table.select(list(COLUMNS)).to_pylist()
        with self._lock:
            self._remember(rows)
            counted = sum(self._count(row, now()) for row in rows if row["is_model_call"])
            self._expire(now())
        self.calls += counted
        return counted

    def _remember(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            dims = Dimensions(row["tenant_id"], row["session_id"], row["feature"])
            key = (row["trace_id"], row["span_id"])
            self._spans[key] = _Seen(row["parent_span_id"], dims, None)
            if dims.known:
                trace = row["trace_id"]
                self._traces[trace] = _fill(self._traces.get(trace, Dimensions()), dims)
                self._traces.move_to_end(trace)
                self._settle(trace)
        while len(self._spans) > MAX_SPANS:
            key, seen = self._spans.popitem(last=False)
            self._under.pop((key[0], seen.parent or b""), None)
        while len(self._traces) > MAX_SPANS:
            self._traces.popitem(last=False)

    def _dimensions(self, trace: bytes, parent: bytes | None, own: Dimensions) -> Dimensions:
        dims, depth = own, 0
        while parent and depth < MAX_DEPTH:
            seen = self._spans.get((trace, parent))
            if seen is None:
                break
            dims = _fill(dims, seen.dims)
            parent, depth = seen.parent, depth + 1
        return _fill(dims, self._traces.get(trace, Dimensions()))

    def _is_layer(self, row: dict[str, Any], usage: tuple[int, int] | None) -> bool:
        if usage is None:
            return False
        trace, parent = row["trace_id"], row["parent_span_id"]
        above = self._spans.get((trace, parent)) if parent else None
        if above is not None and above.usage == usage:
            return True  # under a counted call of the same usage
        return self._under.get((trace, row["span_id"])) == usage  # over one

    def _count(self, row: dict[str, Any], clock: float) -> int:
        trace, span = row["trace_id"], row["span_id"]
        usage = _layer_usage(row)
        if self._is_layer(row, usage):
            self.layers_skipped += 1
            return 0
        at = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=row["start_ns"] // 1000)
        provider = row["provider"] or ""
        model = row["response_model"] or row["request_model"] or ""
        values = Usage(**{name: row[name] for name in USAGE_COLUMNS})
        cost = call_cost(self._periods(provider, model), values, at)
        own = Dimensions(row["tenant_id"], row["session_id"], row["feature"])
        dims = self._dimensions(trace, row["parent_span_id"], own)
        seen = self._spans.get((trace, span))
        if seen is not None:
            seen.usage = usage
        if usage is not None and row["parent_span_id"]:
            self._under[(trace, row["parent_span_id"])] = usage
        default = row["feature_default"]
        if dims.known:
            if dims.feature is None and default is not None:
                dims = Dimensions(dims.tenant_id, dims.session_id, default)
            self.ledger.credit(dims, at, cost)
            return 1
        # Nobody named yet: the totals now, the rest once a span of the trace names them.
        self.ledger.credit(Dimensions(feature=default), at, cost)
        if len(self._pending) < MAX_PENDING:
            self._pending.setdefault(trace, []).append(_Pending(at, cost, default, clock))
        return 1

    def _settle(self, trace: bytes) -> None:
        waiting = self._pending.pop(trace, None)
        if not waiting:
            return
        dims = self._traces[trace]
        for call in waiting:  # its default feature, if any, was credited already
            feature = None if dims.feature in (None, call.feature_default) else dims.feature
            named = Dimensions(dims.tenant_id, dims.session_id, feature)
            self.ledger.credit(named, call.at, call.cost, with_total=False)

    def _expire(self, clock: float) -> None:
        while self._pending:
            waiting = next(iter(self._pending.values()))
            if clock - waiting[0].queued < PENDING_SECONDS:
                break
            self._pending.popitem(last=False)
