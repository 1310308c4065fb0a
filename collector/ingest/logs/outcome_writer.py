"""The outcome writer: stores the outcomes of OTLP log records and the API.

Group commit like the span writer (`collector.ingest.group_commit`): receivers `submit` an Arrow
batch of outcomes and await the future, which resolves after the transaction holding them
has committed (200 means durable); concurrent submissions share one transaction. Rows are
stored without an ingest sequence; the `outcomes` job numbers them
(`warehouse.outcomes.extraction.sequence`).
"""

from __future__ import annotations

import datetime as dt
import logging

import duckdb
import pyarrow as pa
from prometheus_client import CollectorRegistry, Counter, Gauge

from collector.ingest.group_commit import GroupCommitWriter
from warehouse.outcomes.records import insert_outcomes
from warehouse.store.database import Database

log = logging.getLogger(__name__)

MAX_QUEUED_OUTCOMES = 100_000


class OutcomeMetrics:
    """Prometheus metrics of outcome ingest, on the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.log_requests = Counter(
            "spendscope_log_requests",
            "OTLP log export requests by transport and result.",
            ["transport", "result"],
            registry=registry,
        )
        self.log_records_ignored = Counter(
            "spendscope_log_records_ignored",
            "Log records received that are not outcomes (acknowledged, not stored).",
            registry=registry,
        )
        self.received = Counter(
            "spendscope_outcomes_received",
            "Outcomes decoded and accepted for writing, by source (log, api).",
            ["source"],
            registry=registry,
        )
        self.rejected = Counter(
            "spendscope_outcomes_rejected",
            "Outcomes rejected as invalid, by source (log records: OTLP partial success).",
            ["source"],
            registry=registry,
        )
        self.written = Counter(
            "spendscope_outcomes_written",
            "Outcomes from logs and the API committed to the warehouse.",
            registry=registry,
        )
        self.duplicate = Counter(
            "spendscope_outcomes_duplicate",
            "Outcomes received again (same outcome id) and skipped.",
            registry=registry,
        )
        self.commit_failures = Counter(
            "spendscope_outcome_commit_failures",
            "Outcome writer transactions that failed.",
            registry=registry,
        )
        self.queued = Gauge(
            "spendscope_queued_outcomes", "Outcomes waiting for the writer.", registry=registry
        )


class OutcomeBatches:
    """Writes the outcomes of a transaction; each submission's result is its new ids."""

    def __init__(self, metrics: OutcomeMetrics) -> None:
        self._metrics = metrics

    def write(self, cursor: duckdb.DuckDBPyConnection, tables: list[pa.Table]) -> list[set[str]]:
        now = dt.datetime.now(dt.UTC)
        return [insert_outcomes(cursor, rows, now) for rows in tables]

    def committed(self, tables: list[pa.Table], results: list[set[str]], seconds: float) -> None:
        for rows, new in zip(tables, results, strict=True):
            self._metrics.written.inc(len(new))
            self._metrics.duplicate.inc(rows.num_rows - len(new))

    def failed(self) -> None:
        self._metrics.commit_failures.inc()

    def queued(self, rows: int) -> None:
        self._metrics.queued.set(rows)

    def refused(self, rows: int) -> None:
        """Refusals are counted by the receivers, per source."""


class OutcomeWriter(GroupCommitWriter[set[str]]):
    def __init__(
        self,
        database: Database,
        metrics: OutcomeMetrics,
        *,
        max_queued: int = MAX_QUEUED_OUTCOMES,
    ) -> None:
        super().__init__(
            database,
            OutcomeBatches(metrics),
            name="outcome writer",
            max_queued_rows=max_queued,
            max_commit_rows=max_queued,
        )
