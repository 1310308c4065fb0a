"""Storing metric points: one INSERT per group commit, idempotent per data point.

A point's identity is (stream_id, time_unix_nano): its stream (metric, scope, attributes,
resource) and its time. A re-sent export, or a point sent twice in one batch, is stored
once. Each transaction is one metric batch (`batch_id`), the position the `gpu_efficiency`
job keeps its watermark on.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

from warehouse.store.numbering import on_lake
from warehouse.store.staging import registered
from warehouse.store.upsert import insert_new

_PASSTHROUGH = (
    "stream_id", "time_unix_nano", "metric", "signal", "kind", "cumulative", "value", "count",
    "deployment", "gpu_id", "gpu_model", "node_pool", "served_model", "server_address",
    "token_type", "attributes",
)  # fmt: skip

_POINT_COLUMNS = (*_PASSTHROUGH, "time", "start_time", "batch_id", "received_at")
_POINT_ROWS = f"""
SELECT {", ".join(_PASSTHROUGH)},
       make_timestamp(time_unix_nano // 1000),
       CASE WHEN start_unix_nano > 0 THEN make_timestamp(start_unix_nano // 1000) END,
       $batch_id, $received_at
FROM incoming_points
"""
INSERT_POINTS = f"INSERT OR IGNORE INTO metric_points ({', '.join(_POINT_COLUMNS)}) {_POINT_ROWS}"
# On a lake (no key to ignore on): warehouse.store.upsert.
LAKE_INSERT_POINTS = insert_new(
    "metric_points", ("stream_id", "time_unix_nano"), _POINT_COLUMNS, _POINT_ROWS
)


def last_metric_batch(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.execute("SELECT coalesce(max(batch_id), 0) FROM metric_points").fetchone()
    return int(row[0]) if row else 0


def insert_metric_points(
    cursor: duckdb.DuckDBPyConnection,
    points: pa.Table,
    batch_id: int,
    received_at: dt.datetime,
) -> int:
    """Insert the points not already stored; returns how many were new. The caller owns
    the transaction."""
    with registered(cursor, "incoming_points", points):
        row = cursor.execute(
            LAKE_INSERT_POINTS if on_lake(cursor) else INSERT_POINTS,
            {"batch_id": batch_id, "received_at": received_at.replace(tzinfo=None)},
        ).fetchone()
    return int(row[0]) if row else 0
