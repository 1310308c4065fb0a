"""The metric-point writer: OTLP metric batches into DuckDB by group commit.

Like the span writer (`collector.ingest.traces.writer`): each transaction is one metric batch with
the
next `batch_id`; receivers await the future, which resolves after the commit (200 means
durable); past the queue bound `submit` raises QueueFull (503 / UNAVAILABLE).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
from prometheus_client import CollectorRegistry, Counter, Gauge

from collector.ingest.group_commit import GroupCommitWriter
from warehouse.gpu.metric_points import insert_metric_points, last_metric_batch
from warehouse.store.database import Database

MAX_QUEUED_POINTS = 1_000_000
MAX_COMMIT_POINTS = 200_000


class MetricIngestMetrics:
    """Prometheus metrics of OTLP metric ingest, on the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "spendscope_metric_requests",
            "OTLP metric export requests by transport and result.",
            ["transport", "result"],
            registry=registry,
        )
        self.points = Counter(
            "spendscope_metric_points",
            "OTLP metric data points by outcome: received (recognized, queued), ignored "
            "(unrecognized metric or no recorded value), rejected, refused (queue full), "
            "written, duplicate.",
            ["outcome"],
            registry=registry,
        )
        self.commit_failures = Counter(
            "spendscope_metric_commit_failures",
            "Metric writer transactions that failed.",
            registry=registry,
        )
        self.queued = Gauge(
            "spendscope_queued_metric_points",
            "Metric data points waiting for the writer.",
            registry=registry,
        )


class MetricBatches:
    def __init__(self, metrics: MetricIngestMetrics) -> None:
        self._metrics = metrics
        self._batch_id: int | None = None
        self._inserted = 0

    def write(self, cursor: duckdb.DuckDBPyConnection, tables: list[pa.Table]) -> list[int]:
        if self._batch_id is None:
            self._batch_id = last_metric_batch(cursor)
        self._batch_id += 1
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        self._inserted = insert_metric_points(
            cursor, table, self._batch_id, dt.datetime.now(dt.UTC)
        )
        return [t.num_rows for t in tables]

    def committed(self, tables: list[pa.Table], results: list[int], seconds: float) -> None:
        self._metrics.points.labels("written").inc(self._inserted)
        self._metrics.points.labels("duplicate").inc(sum(results) - self._inserted)

    def failed(self) -> None:
        self._batch_id = None  # the rolled-back batch id is free again
        self._metrics.commit_failures.inc()

    def queued(self, rows: int) -> None:
        self._metrics.queued.set(rows)

    def refused(self, rows: int) -> None:
        self._metrics.points.labels("refused").inc(rows)


class MetricWriter(GroupCommitWriter[int]):
    def __init__(
        self,
        database: Database,
        metrics: MetricIngestMetrics,
        *,
        max_queued: int = MAX_QUEUED_POINTS,
        max_commit: int = MAX_COMMIT_POINTS,
    ) -> None:
        super().__init__(
            database,
            MetricBatches(metrics),
            name="metric writer",
            max_queued_rows=max_queued,
            max_commit_rows=max_commit,
        )
