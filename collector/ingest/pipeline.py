"""The one ingest path shared by the HTTP and gRPC receivers: decode off the event loop,
enqueue for the writer, await the commit. The result both receivers answer from (partial
success) holds the spans rejected by the decoder and those the commit found conflicting with
a stored span."""

from __future__ import annotations

import dataclasses
import logging

import anyio.to_thread

from collector.ingest.limits import DEFAULT_ITEM_CHARS
from collector.ingest.normalize import Normalizer
from collector.ingest.otlp_http import OtlpSignal
from collector.ingest.partial_success import TRACES_RESPONSE
from collector.ingest.traces.decode import DecodedSpans, decode_traces
from collector.ingest.traces.writer import Writer, Written
from collector.service_metrics import IngestMetrics

log = logging.getLogger(__name__)

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class IngestService:
    def __init__(
        self,
        normalizer: Normalizer,
        writer: Writer,
        metrics: IngestMetrics,
        *,
        item_chars: int = DEFAULT_ITEM_CHARS,
    ) -> None:
        """`item_chars`: what one span stores of its attributes, events and links (`limits`)."""
        self.normalizer = normalizer
        self.writer = writer
        self.metrics = metrics
        self.item_chars = item_chars
        self.signal = OtlpSignal(
            TRACE_SERVICE,
            "/v1/traces",
            "spans",
            TRACES_RESPONSE,
            self.export_traces,
            metrics.requests,
        )

    async def export_traces(self, body: bytes, content_type: str) -> DecodedSpans:
        """Store the spans of one export; returns once they are committed.

        Raises DecodeError (bad body), QueueFull or WriterStopped (retry later).
        """
        decoded = await anyio.to_thread.run_sync(
            decode_traces, body, content_type, self.normalizer, self.item_chars
        )
        self.metrics.spans_rejected.inc(decoded.rejected)
        if decoded.accepted:
            written = await self.writer.commit(
                decoded.table, self.metrics.spans_received, decoded.accepted
            )
            if written.conflicts.rejected:
                return self._with_conflicts(decoded, written)
        return decoded

    def _with_conflicts(self, decoded: DecodedSpans, written: Written) -> DecodedSpans:
        """`decoded` with the spans its commit found conflicting with stored ones rejected
        (counted, logged as a warning, and added to the partial success)."""
        conflicts = written.conflicts
        self.metrics.spans_rejected.inc(conflicts.rejected)
        log.warning(
            "%d spans conflict with a stored span of the same trace and span id; rejected, "
            "the stored one kept (%s)",
            conflicts.rejected,
            conflicts.rejection_message,
        )
        message = "; ".join(
            m for m in (decoded.rejection_message, conflicts.rejection_message) if m
        )
        return dataclasses.replace(
            decoded,
            accepted=decoded.accepted - conflicts.rejected,
            rejected=decoded.rejected + conflicts.rejected,
            rejection_message=message,
        )
