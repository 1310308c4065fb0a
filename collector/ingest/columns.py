"""Decoded spans as column lists, turned into one Arrow table per request.

Both decoders (protobuf and JSON) feed `SpanColumns.add`, which validates a span, normalizes
its attributes and appends one value to each column: no object per span survives decoding.
A span whose (trace_id, span_id) came earlier in the same request with other content is
rejected (partial success) and logged; one sent twice alike is kept, and stored once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from collector.ingest.latency import FirstTokenBounds
from collector.ingest.limits import (
    DEFAULT_ITEM_CHARS,
    MAX_KEY_CHARS,
    MAX_VALUE_CHARS,
    TRUNCATED,
    bounded_text,
    cut_key,
    span_json,
    to_json,
)
from collector.ingest.normalize import Normalized, Normalizer, SpanRejected
from collector.ingest.rejections import Rejections, item_label

log = logging.getLogger(__name__)

# The limits live in `collector.ingest.limits`; tests and tools still take them from here.
__all__ = [
    "COLUMN_NAMES",
    "MAX_KEY_CHARS",
    "MAX_UNIX_NANO",
    "MAX_VALUE_CHARS",
    "SCHEMA",
    "TRUNCATED",
    "SpanColumns",
    "bounded_text",
    "to_json",
]

# Times at or after 2200-01-01 are rejected: no clock is that far off, and a span there
# would stretch every time series (TIMESTAMP_NS itself ends in 2262).
MAX_UNIX_NANO = 7_258_118_400 * 10**9 - 1
SCHEMA = pa.schema(
    [
        ("trace_id", pa.binary()),
        ("span_id", pa.binary()),
        ("parent_span_id", pa.binary()),
        ("start_ns", pa.int64()),
        ("end_ns", pa.int64()),
        ("name", pa.string()),
        ("kind", pa.int16()),
        ("status_code", pa.int16()),
        ("status_message", pa.string()),
        ("service", pa.string()),
        ("scope_name", pa.string()),
        ("is_model_call", pa.bool_()),
        ("is_usage_rollup", pa.bool_()),
        ("provider", pa.string()),
        ("operation", pa.string()),
        ("request_model", pa.string()),
        ("response_model", pa.string()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("cache_read_tokens", pa.int64()),
        ("cache_write_tokens", pa.int64()),
        ("reasoning_tokens", pa.int64()),
        ("reported_cost_usd", pa.float64()),
        ("feature", pa.string()),
        ("feature_default", pa.string()),
        ("session_id", pa.string()),
        ("user_id", pa.string()),
        ("tenant_id", pa.string()),
        ("environment", pa.string()),
        ("agent_name", pa.string()),
        ("attributes", pa.string()),
        ("resource_attributes", pa.string()),
        ("events", pa.string()),
        ("links", pa.string()),
        ("cache_write_1h_tokens", pa.int64()),
        ("input_audio_tokens", pa.int64()),
        ("output_audio_tokens", pa.int64()),
        ("input_image_tokens", pa.int64()),
        ("output_image_tokens", pa.int64()),
        ("service_tier", pa.string()),
        ("web_search_calls", pa.int64()),
        ("pricing_assumption", pa.string()),
        ("time_to_first_token_ms", pa.float64()),
    ]
)
COLUMN_NAMES = tuple(SCHEMA.names)


_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)


_KEY_FIELDS = (
    "provider",
    "request_model",
    "response_model",
    "feature",
    "session_id",
    "user_id",
    "tenant_id",
    "environment",
    "agent_name",
    "service",
)


def _check_key_lengths(n: Normalized) -> None:
    for field in _KEY_FIELDS:
        value = getattr(n, field)
        if value is not None and len(value) > MAX_KEY_CHARS:
            raise SpanRejected(f"{field} is {len(value)} characters long (limit {MAX_KEY_CHARS})")


def _check_span(
    trace_id: bytes,
    span_id: bytes,
    parent_span_id: bytes,
    name: str,
    kind: int,
    start_ns: int,
    end_ns: int,
    status_code: int,
) -> None:
    """Raise SpanRejected when a span's own fields cannot be stored."""
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE_ID:
        raise SpanRejected("trace_id must be 16 bytes and not all zero")
    if len(span_id) != 8 or span_id == _ZERO_SPAN_ID:
        raise SpanRejected("span_id must be 8 bytes and not all zero")
    if parent_span_id and len(parent_span_id) != 8:
        raise SpanRejected("parent_span_id must be 8 bytes or empty")
    if not 0 < start_ns <= MAX_UNIX_NANO:
        raise SpanRejected(f"start time {start_ns} is not a Unix time in ns before 2200")
    if not 0 <= end_ns <= MAX_UNIX_NANO:
        raise SpanRejected(f"end time {end_ns} is not a Unix time in ns before 2200")
    if not 0 <= kind <= 5 or not 0 <= status_code <= 2:
        raise SpanRejected("span kind or status code out of range")
    if len(name) > MAX_KEY_CHARS:
        raise SpanRejected(f"name is {len(name)} characters long (limit {MAX_KEY_CHARS})")


class SpanColumns(Rejections):
    """Accumulates validated, normalized spans; one tuple per span, in `SCHEMA` order,
    turned into columns once per request (`to_arrow`)."""

    def __init__(self, normalizer: Normalizer, item_chars: int = DEFAULT_ITEM_CHARS) -> None:
        super().__init__()
        self.normalizer = normalizer
        self.item_chars = item_chars  # the budget of a span's attributes, events and links
        self.rows: list[tuple[Any, ...]] = []
        self.accepted = 0
        self._seen: dict[bytes, int] = {}  # trace id + span id -> index of its first row
        self.conflicts = 0
        self.first_tokens = FirstTokenBounds()

    def add(
        self,
        trace_id: bytes,
        span_id: bytes,
        parent_span_id: bytes,
        name: str,
        kind: int,
        start_ns: int,
        end_ns: int,
        status_code: int,
        status_message: str,
        attributes: Mapping[str, Any],
        events: list[Any],
        links: list[Any],
        scope_name: str | None,
        resource: Mapping[int, Any],
        resource_json: str | None,
    ) -> None:
        """Validate and append one span; a span that cannot be stored is counted as rejected."""
        try:
            _check_span(trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns,
                        status_code)  # fmt: skip
            n = self.normalizer.normalize(name, attributes, resource, scope_name)
            _check_key_lengths(n)
            attributes_json, events_json, links_json = span_json(
                n.remainder, events, links, self.item_chars
            )
            row = (
                trace_id,
                span_id,
                parent_span_id or None,
                start_ns,
                max(end_ns, start_ns),  # documented clamp: no negative durations
                name,
                kind,
                status_code,
                bounded_text(status_message) or None,
                n.service,
                (scope_name if len(scope_name) <= MAX_KEY_CHARS else cut_key(scope_name))
                if scope_name
                else None,
                n.is_model_call,
                n.is_usage_rollup,
                n.provider,
                n.operation,
                n.request_model,
                n.response_model,
                n.input_tokens,
                n.output_tokens,
                n.cache_read_tokens,
                n.cache_write_tokens,
                n.reasoning_tokens,
                n.reported_cost_usd,
                n.feature,
                n.feature_default,
                n.session_id,
                n.user_id,
                n.tenant_id,
                n.environment,
                n.agent_name,
                attributes_json,
                resource_json,
                events_json,
                links_json,
                n.cache_write_1h_tokens,
                n.input_audio_tokens,
                n.output_audio_tokens,
                n.input_image_tokens,
                n.output_image_tokens,
                n.service_tier,
                n.web_search_calls,
                n.pricing_assumption,
                self.first_tokens.check(n.time_to_first_token_ms, start_ns, end_ns, span_id),
            )
        except SpanRejected as exc:
            self.reject(f"{item_label('span', span_id)}: {exc}")
            return
        except Exception as exc:  # one span's bug never fails its request
            self.unexpected(item_label("span", span_id), exc)
            return
        first = self._seen.setdefault(trace_id + span_id, len(self.rows))
        if first != len(self.rows) and self.rows[first] != row:
            self._conflict(row, self.rows[first])
            return
        # A span sent twice alike is kept twice: the insert stores it once (idempotent).
        self.rows.append(row)
        self.accepted += 1

    def _conflict(self, row: tuple[Any, ...], first: tuple[Any, ...]) -> None:
        """A span whose (trace_id, span_id) came earlier in the request with other content:
        the first is kept (as the insert would), this one rejected, saying what differs."""
        differ = [name for name, a, b in zip(COLUMN_NAMES, first, row, strict=True) if a != b]
        self.conflicts += 1
        self.reject(
            f"span {row[1].hex()}: conflicts with a span of the same trace and span id earlier "
            f"in this request (different {', '.join(differ[:4])}{', ...' if differ[4:] else ''}"
            "); the first is kept"
        )

    def to_arrow(self) -> pa.Table:
        self.first_tokens.report()
        if self.conflicts:
            log.warning(
                "%d spans conflict with a span of the same trace and span id earlier in their "
                "request; rejected, the first kept (%s)",
                self.conflicts,
                self.rejection_message,
            )
        if not self.rows:
            return SCHEMA.empty_table()
        columns = zip(*self.rows, strict=True)
        return pa.Table.from_arrays(
            [
                pa.array(values, type=field.type)
                for values, field in zip(columns, SCHEMA, strict=True)
            ],
            schema=SCHEMA,
        )
