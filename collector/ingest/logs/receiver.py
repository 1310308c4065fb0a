"""OTLP logs: `POST /v1/logs` and gRPC `LogsService/Export`, for outcome log records.

Same rules as the trace receivers (docs/ingest.md): protobuf or JSON, gzip, the request's
content type in the response, 400 for undecodable bodies, 413 above the size limit, 415
for other content types, 503 / UNAVAILABLE with Retry-After when the outcome queue is
full, and 200 only once the outcomes are committed. Outcome records that break the rules
are reported through partial success (`rejected_log_records`). Records that are not
outcomes are acknowledged and dropped: spendscope keeps outcomes, not logs.

The HTTP and gRPC rules are shared with the other receivers (`collector.ingest.otlp_http`,
`collector.ingest.otlp_grpc`).
"""

from __future__ import annotations

import logging

import anyio.to_thread

from collector.ingest.limits import DEFAULT_ITEM_CHARS
from collector.ingest.logs.decode import DecodedLogs, decode_logs
from collector.ingest.logs.outcome_writer import OutcomeMetrics, OutcomeWriter
from collector.ingest.normalize import Normalizer
from collector.ingest.otlp_http import OtlpSignal
from collector.ingest.partial_success import LOGS_RESPONSE

log = logging.getLogger(__name__)

LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"


class LogsReceiver:
    """The one logs path shared by HTTP and gRPC: decode off the event loop, submit the
    outcomes to the outcome writer, await the commit."""

    def __init__(
        self,
        normalizer: Normalizer,
        writer: OutcomeWriter,
        metrics: OutcomeMetrics,
        *,
        item_chars: int = DEFAULT_ITEM_CHARS,
    ) -> None:
        """`item_chars`: what one log record stores of its attributes (`limits`)."""
        self.normalizer = normalizer
        self.writer = writer
        self.metrics = metrics
        self.item_chars = item_chars
        self.signal = OtlpSignal(
            LOGS_SERVICE,
            "/v1/logs",
            "log records",
            LOGS_RESPONSE,
            self.export_logs,
            metrics.log_requests,
        )

    async def export_logs(self, body: bytes, content_type: str) -> DecodedLogs:
        """Store the outcomes of one export; returns once they are committed.

        Raises DecodeError (bad body), QueueFull or WriterStopped (retry later).
        """
        decoded = await anyio.to_thread.run_sync(
            decode_logs, body, content_type, self.normalizer, self.item_chars
        )
        self.metrics.rejected.labels("log").inc(decoded.rejected)
        self.metrics.log_records_ignored.inc(decoded.ignored)
        if decoded.rows.num_rows:
            received = self.metrics.received.labels("log")
            await self.writer.commit(decoded.rows, received, decoded.rows.num_rows)
        return decoded
