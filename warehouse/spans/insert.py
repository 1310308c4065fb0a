"""Writing decoded spans: one INSERT per group commit, idempotent on (trace_id, span_id);
`conflicting_duplicates` finds the skipped spans whose content differs from the stored one.

On a lake (`warehouse.store.lake`) there is no key to skip duplicates on: every span is
appended to the table `main.spans` and the readers see each (trace_id, span_id) once, as
first committed, through the `spans` view."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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
    "events", "links", "cache_write_1h_tokens", "input_audio_tokens", "output_audio_tokens",
    "input_image_tokens", "output_image_tokens", "service_tier", "web_search_calls",
    "pricing_assumption", "time_to_first_token_ms",
)  # fmt: skip

_INSERT = f"""
INTO {{table}} (
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
INSERT_SPANS = "INSERT OR IGNORE " + _INSERT.format(table="spans")
# The lake's table itself (`spans` is its deduplicating view there).
APPEND_SPANS = "INSERT " + _INSERT.format(table="main.spans")


def last_batch_id(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.execute("SELECT coalesce(max(batch_id), 0) FROM spans").fetchone()
    return int(row[0]) if row else 0


def insert_spans(
    cursor: duckdb.DuckDBPyConnection,
    spans: pa.Table,
    batch_id: int,
    received_at: dt.datetime,
    *,
    lake: bool = False,
) -> int:
    """Insert the spans not already stored; returns how many were new.

    The caller owns the transaction. Duplicates, within the batch or against stored spans,
    are skipped: a re-sent export adds nothing. On a `lake` all are appended (and counted):
    the read view leaves the duplicates out.
    """
    with registered(cursor, "incoming", spans):
        row = cursor.execute(
            APPEND_SPANS if lake else INSERT_SPANS,
            {"batch_id": batch_id, "received_at": received_at.replace(tzinfo=None)},
        ).fetchone()
    return int(row[0]) if row else 0


# What makes two spans with one (trace_id, span_id) different spans rather than a re-send:
# who and what they bill, and when. The stored side of start/end is a microsecond timestamp.
_CONTENT = (
    "tenant_id", "feature", "session_id", "user_id", "provider", "request_model",
    "response_model", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "name", "cache_write_1h_tokens",
    "input_audio_tokens", "output_audio_tokens", "input_image_tokens", "output_image_tokens",
    "service_tier", "web_search_calls",
)  # fmt: skip
_DIFFERS = ", ".join(
    [f"CASE WHEN i.{c} IS DISTINCT FROM s.{c} THEN '{c}' END" for c in _CONTENT]
    + [
        f"CASE WHEN make_timestamp(i.{edge}_ns // 1000) IS DISTINCT FROM s.{edge}_time "
        f"THEN '{edge}_time' END"
        for edge in ("start", "end")
    ]
)
# A primary-key join: only the incoming spans whose key is stored (every one of them, the
# new ones included, since the insert ran first) and whose content is not the stored one.
CONFLICTS = f"""
SELECT row, span_id, differ FROM (
    SELECT i.row, i.span_id, concat_ws(', ', {_DIFFERS}) AS differ
    FROM incoming_rows i JOIN spans s ON s.trace_id = i.trace_id AND s.span_id = i.span_id
)
WHERE differ <> ''
ORDER BY row
"""


@dataclass(frozen=True, slots=True)
class ConflictingDuplicate:
    """An incoming span skipped by the insert whose content differs from the stored span."""

    row: int  # its position in the inserted table
    span_id: bytes
    differ: tuple[str, ...]  # the content columns that differ


def conflicting_duplicates(
    cursor: duckdb.DuckDBPyConnection, spans: pa.Table
) -> list[ConflictingDuplicate]:
    """The spans of `spans`, just given to `insert_spans` in this transaction, that were
    skipped although their content differs from the span stored under their key (stored
    before, or inserted from another row of `spans`). Worth calling only when the insert
    skipped some: without duplicates there is none."""
    indexed = spans.append_column("row", pa.array(range(spans.num_rows), type=pa.int64()))
    with registered(cursor, "incoming_rows", indexed):
        rows = cursor.execute(CONFLICTS).fetchall()
    return [
        ConflictingDuplicate(int(row), bytes(span_id), tuple(differ.split(", ")))
        for row, span_id, differ in rows
    ]
