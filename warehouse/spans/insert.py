"""Writing decoded spans: one INSERT per group commit, idempotent on (trace_id, span_id)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

from warehouse.store.staging import registered

# The Arrow batch carries nanosecond integers; the table keeps UTC timestamps and duration.
_PASSTHROUGH = (
    "trace_id", "span_id", "parent_span_id", "name", "kind", "status_code", "status_message",
    "service", "scope_name", "is_model_call", "is_usage_rollup", "provider", "operation",
    "request_model", "response_model", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "feature", "feature_default", "session_id",
    "user_id", "tenant_id", "environment", "agent_name", "attributes", "resource_attributes",
    "events", "links",
)  # fmt: skip

INSERT_SPANS = f"""
INSERT OR IGNORE INTO spans (
    {", ".join(_PASSTHROUGH)},
    batch_id, received_at, start_time, end_time, duration_ms, reported_cost_usd
)
SELECT
    {", ".join(_PASSTHROUGH)},
    $batch_id, $received_at,
    make_timestamp(start_ns // 1000), make_timestamp(end_ns // 1000),
    (end_ns - start_ns) / 1e6,
    reported_cost_usd::DECIMAL(20, 10)
FROM incoming
"""


def last_batch_id(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.execute("SELECT coalesce(max(batch_id), 0) FROM spans").fetchone()
    return int(row[0]) if row else 0


def insert_spans(
    cursor: duckdb.DuckDBPyConnection,
    spans: pa.Table,
    batch_id: int,
    received_at: dt.datetime,
) -> int:
    """Insert the spans not already stored; returns how many were new.

    The caller owns the transaction. Duplicates, within the batch or against stored spans,
    are skipped: a re-sent export adds nothing.
    """
    with registered(cursor, "incoming", spans):
        row = cursor.execute(
            INSERT_SPANS,
            {"batch_id": batch_id, "received_at": received_at.replace(tzinfo=None)},
        ).fetchone()
    return int(row[0]) if row else 0
