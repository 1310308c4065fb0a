"""OTLP metrics: `POST /v1/metrics` and gRPC `MetricsService/Export`.

Same rules as the trace receivers (docs/ingest.md, shared HTTP rules in
`collector.ingest.otlp_http`): protobuf or JSON, gzip or deflate, the request's content type in
the response, 400 for undecodable bodies, 413 above the size limit, 415 for other content
types, 503 / UNAVAILABLE with Retry-After when the metric queue is full, and 200 only once
the points are committed. Points that cannot be stored are reported through partial
success (`rejected_data_points`); points of metrics spendscope does not use are
acknowledged and dropped (`collector.ingest.metrics.signals`, docs/gpu.md).
"""

from __future__ import annotations

import logging

import anyio.to_thread

from collector.ingest.metrics.decode import DecodedMetrics, MetricRules, decode_metrics
from collector.ingest.metrics.writer import MetricIngestMetrics, MetricWriter
from collector.ingest.otlp_http import OtlpSignal
from collector.ingest.partial_success import METRICS_RESPONSE

log = logging.getLogger(__name__)

METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"


class MetricsReceiver:
    """The one metrics path shared by HTTP and gRPC: decode off the event loop, submit the
    points to the metric writer, await the commit."""

    def __init__(
        self, rules: MetricRules, writer: MetricWriter, metrics: MetricIngestMetrics
    ) -> None:
        self.rules = rules
        self.writer = writer
        self.metrics = metrics
        self.signal = OtlpSignal(
            METRICS_SERVICE,
            "/v1/metrics",
            "data points",
            METRICS_RESPONSE,
            self.export_metrics,
            metrics.requests,
        )

    async def export_metrics(self, body: bytes, content_type: str) -> DecodedMetrics:
        """Store the recognized points of one export; returns once they are committed.

        Raises DecodeError (bad body), QueueFull or WriterStopped (retry later).
        """
        decoded = await anyio.to_thread.run_sync(decode_metrics, body, content_type, self.rules)
        self.metrics.points.labels("rejected").inc(decoded.rejected)
        self.metrics.points.labels("ignored").inc(decoded.ignored)
        if decoded.accepted:
            received = self.metrics.points.labels("received")
            await self.writer.commit(decoded.table, received, decoded.accepted)
        return decoded
