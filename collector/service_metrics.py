"""Prometheus metrics of the service, on a registry of its own (no global state)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import Any

import duckdb
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from warehouse.store import lake
from warehouse.store.database import Database
from warehouse.store.leadership import Leadership

log = logging.getLogger(__name__)


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "spendscope_ingest_requests",
            "OTLP export requests by transport and outcome.",
            ["transport", "outcome"],
            registry=registry,
        )
        self.spans_received = Counter(
            "spendscope_spans_received",
            "Spans decoded and accepted for writing.",
            registry=registry,
        )
        self.spans_rejected = Counter(
            "spendscope_spans_rejected",
            "Spans rejected individually (reported as OTLP partial success).",
            registry=registry,
        )
        self.spans_refused = Counter(
            "spendscope_spans_refused",
            "Spans refused because the ingest queue was full (client told to retry).",
            registry=registry,
        )
        self.spans_written = Counter(
            "spendscope_spans_written", "Spans committed to the warehouse.", registry=registry
        )
        self.spans_duplicate = Counter(
            "spendscope_spans_duplicate",
            "Spans received again (same trace_id and span_id) and skipped.",
            registry=registry,
        )
        self.commits = Counter(
            "spendscope_commits", "Group commits of the writer.", registry=registry
        )
        self.commit_failures = Counter(
            "spendscope_commit_failures", "Group commits that failed.", registry=registry
        )
        self.ledger_failures = Counter(
            "spendscope_ledger_failures",
            "Committed span batches the live ledger (budget check) could not count.",
            registry=registry,
        )
        self.budget_checks = Counter(
            "spendscope_budget_checks",
            "Budget checks answered, by decision (allow, deny).",
            ["decision"],
            registry=registry,
        )
        self.commit_seconds = Histogram(
            "spendscope_commit_seconds", "Duration of one group commit.", registry=registry
        )
        self.queued_spans = Gauge(
            "spendscope_queued_spans", "Spans waiting for the writer.", registry=registry
        )
        self.commit_conflict_retries = Counter(
            "spendscope_commit_conflict_retries",
            "Group commits run again after losing to a concurrent transaction (on a lake: "
            "another node's).",
            registry=registry,
        )


class LakeCollector:
    """The job runner's lease and, on a lake, its files, read at each scrape: whether this
    node leads (1 on the embedded file), its term, how often it became leader; the lake's
    live data files, their bytes, the rows inlined in its catalog, its snapshots."""

    def __init__(self, database: Database, leadership: Leadership) -> None:
        self._database = database
        self._leadership = leadership

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        leadership = self._leadership
        yield GaugeMetricFamily(
            "spendscope_leader", "1 while this node runs the jobs and the alert delivery.",
            value=1.0 if leadership.is_leader else 0.0,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "spendscope_leader_term", "The job runner's lease term this node last held.",
            value=float(leadership.term),
        )  # fmt: skip
        yield CounterMetricFamily(
            "spendscope_leader_changes", "Times this node became the job runner.",
            value=float(leadership.changes),
        )  # fmt: skip
        if self._database.lake is None:
            return
        try:
            with closing(self._database.cursor()) as cursor:
                stats = lake.lake_stats(cursor)
        except duckdb.Error:  # a scrape must not fail while the catalog is away
            log.warning("could not read the lake's statistics for /metrics", exc_info=True)
            return
        for key, text in LAKE_GAUGES.items():
            yield GaugeMetricFamily(f"spendscope_lake_{key}", text, value=float(stats[key]))


LAKE_GAUGES = {
    "data_files": "Live Parquet data files of the lake's tables.",
    "data_bytes": "Bytes of the live data files.",
    "inlined_rows": "Rows committed inline in the catalog, not yet in a data file.",
    "snapshots": "Snapshots the catalog keeps (compaction expires the old ones).",
}


class JobStateCollector:
    """The jobs' progress as gauges, read from `job_state` at each scrape.

    `states` returns what `warehouse.jobs.incremental.job_states` does. A scrape that cannot read
    them
    (the database is closing) reports no job metrics rather than failing /metrics.
    """

    GAUGES = (
        ("watermark", "spendscope_job_watermark", "Last input position the job processed."),
        ("input_high", "spendscope_job_input_high", "Where the job's input stands now."),
        ("last_rows", "spendscope_job_last_rows", "Rows the job's last run wrote."),
        ("total_rows", "spendscope_job_rows", "Rows the job has written in all."),
        ("runs", "spendscope_job_runs", "Recorded runs of the job."),
        ("failures", "spendscope_job_failures", "Failures in a row on the range it attempts."),
        (
            "quarantined_ranges",
            "spendscope_job_quarantined_ranges",
            "Input ranges the job quarantined after repeated failures (GET /api/v1/jobs).",
        ),
    )

    def __init__(self, states: Callable[[], list[dict[str, Any]]]) -> None:
        self._states = states

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        try:
            states = self._states()
        except duckdb.Error:  # a scrape must not fail while the database is closing
            log.warning("could not read job states for /metrics", exc_info=True)
            return
        families = {
            key: GaugeMetricFamily(name, text, labels=["job"]) for key, name, text in self.GAUGES
        }
        last_run = GaugeMetricFamily(
            "spendscope_job_last_run_timestamp_seconds",
            "When the job last recorded a run (Unix time); absent before its first.",
            labels=["job"],
        )
        failing = GaugeMetricFamily(
            "spendscope_job_failing", "1 when the job's last run failed.", labels=["job"]
        )
        lag = GaugeMetricFamily(
            "spendscope_job_lag", "input_high - watermark: 0 when caught up.", labels=["job"]
        )
        for state in states:
            job = [state["name"]]
            for key, family in families.items():
                family.add_metric(job, float(state[key] or 0))
            if state["last_run_at"] is not None:
                last_run.add_metric(job, state["last_run_at"].replace(tzinfo=dt.UTC).timestamp())
            failing.add_metric(job, 1.0 if state["last_error"] else 0.0)
            lag.add_metric(job, float(max(state["input_high"] - state["watermark"], 0)))
        yield from families.values()
        yield from (last_run, failing, lag)
