"""The one ingest path shared by the HTTP and gRPC receivers: decode off the event loop,
enqueue for the writer, await the commit."""

from __future__ import annotations

import anyio.to_thread

from collector.ingest.limits import DEFAULT_ITEM_CHARS
from collector.ingest.normalize import Normalizer
from collector.ingest.traces.decode import DecodedSpans, decode_traces
from collector.ingest.traces.writer import Writer
from collector.service_metrics import IngestMetrics


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

    async def export_traces(self, body: bytes, content_type: str) -> DecodedSpans:
        """Store the spans of one export; returns once they are committed.

        Raises DecodeError (bad body), QueueFull or WriterStopped (retry later).
        """
        decoded = await anyio.to_thread.run_sync(
            decode_traces, body, content_type, self.normalizer, self.item_chars
        )
        self.metrics.spans_rejected.inc(decoded.rejected)
        if decoded.accepted:
            await self.writer.commit(decoded.table, self.metrics.spans_received, decoded.accepted)
        return decoded
