"""Prometheus metrics of the service, on a registry of its own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.commit_seconds = Histogram(
            "spendscope_commit_seconds", "Duration of one group commit.", registry=registry
        )
        self.queued_spans = Gauge(
            "spendscope_queued_spans", "Spans waiting for the writer.", registry=registry
        )
