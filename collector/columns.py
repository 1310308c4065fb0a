"""Decoded spans as column lists, turned into one Arrow table per request.

Both decoders (protobuf and JSON) feed `SpanColumns.add`, which validates a span, normalizes
its attributes and appends one value to each column: no object per span survives decoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import pyarrow as pa

from collector.normalize import Normalizer, SpanRejected

MAX_UNIX_NANO = 2**63 - 1  # TIMESTAMP_NS and int64 end here (year 2262)
MAX_REJECTION_MESSAGES = 5

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
    ]
)
COLUMN_NAMES = tuple(SCHEMA.names)


def to_json(value: Mapping[str, Any] | list[Any]) -> str | None:
    """Compact JSON for the kept attributes, events and links; None when empty."""
    if not value:
        return None
    return orjson.dumps(value).decode()


class SpanColumns:
    """Accumulates validated, normalized spans column by column."""

    def __init__(self, normalizer: Normalizer) -> None:
        self.normalizer = normalizer
        self.columns: dict[str, list[Any]] = {name: [] for name in COLUMN_NAMES}
        self.accepted = 0
        self.rejected = 0
        self.messages: list[str] = []

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.messages) < MAX_REJECTION_MESSAGES:
            self.messages.append(reason)

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
            if len(trace_id) != 16 or not any(trace_id):
                raise SpanRejected("trace_id must be 16 bytes and not all zero")
            if len(span_id) != 8 or not any(span_id):
                raise SpanRejected("span_id must be 8 bytes and not all zero")
            if parent_span_id and len(parent_span_id) != 8:
                raise SpanRejected("parent_span_id must be 8 bytes or empty")
            if not 0 < start_ns <= MAX_UNIX_NANO:
                raise SpanRejected(f"start time {start_ns} is not a valid Unix time in ns")
            if not 0 <= end_ns <= MAX_UNIX_NANO:
                raise SpanRejected(f"end time {end_ns} is not a valid Unix time in ns")
            if not 0 <= kind <= 5 or not 0 <= status_code <= 2:
                raise SpanRejected("span kind or status code out of range")
            normalized = self.normalizer.normalize(name, attributes, resource)
        except SpanRejected as exc:
            self.reject(f"span {span_id.hex()}: {exc}")
            return
        c = self.columns
        c["trace_id"].append(trace_id)
        c["span_id"].append(span_id)
        c["parent_span_id"].append(parent_span_id or None)
        c["start_ns"].append(start_ns)
        c["end_ns"].append(max(end_ns, start_ns))  # documented clamp: no negative durations
        c["name"].append(name)
        c["kind"].append(kind)
        c["status_code"].append(status_code)
        c["status_message"].append(status_message or None)
        c["service"].append(normalized.service)
        c["scope_name"].append(scope_name or None)
        c["is_model_call"].append(normalized.is_model_call)
        c["is_usage_rollup"].append(normalized.is_usage_rollup)
        c["provider"].append(normalized.provider)
        c["operation"].append(normalized.operation)
        c["request_model"].append(normalized.request_model)
        c["response_model"].append(normalized.response_model)
        c["input_tokens"].append(normalized.input_tokens)
        c["output_tokens"].append(normalized.output_tokens)
        c["cache_read_tokens"].append(normalized.cache_read_tokens)
        c["cache_write_tokens"].append(normalized.cache_write_tokens)
        c["reasoning_tokens"].append(normalized.reasoning_tokens)
        c["reported_cost_usd"].append(normalized.reported_cost_usd)
        c["feature"].append(normalized.feature)
        c["feature_default"].append(normalized.feature_default)
        c["session_id"].append(normalized.session_id)
        c["user_id"].append(normalized.user_id)
        c["tenant_id"].append(normalized.tenant_id)
        c["environment"].append(normalized.environment)
        c["agent_name"].append(normalized.agent_name)
        c["attributes"].append(to_json(normalized.remainder))
        c["resource_attributes"].append(resource_json)
        c["events"].append(to_json(events))
        c["links"].append(to_json(links))
        self.accepted += 1

    def to_arrow(self) -> pa.Table:
        return pa.Table.from_pydict(self.columns, schema=SCHEMA)
