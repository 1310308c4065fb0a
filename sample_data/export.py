"""Getting sample spans out through the OTel SDK: deterministic ids, no dropped spans.

The SDK's `BatchSpanProcessor` drops spans when its queue fills, which a backfill of weeks
of history does in a second. `InlineBatchProcessor` exports each full batch on the thread
that ended the span instead: the generator waits for the collector (and the exporter's own
retries on 429/503), so what the progress bar shows as sent has been acknowledged.
"""

from __future__ import annotations

import random
import threading

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator

EXPORT_BATCH = 2000


class ExportFailed(RuntimeError):
    """The collector did not take a batch, after the exporter's own retries."""


class SeededIds(IdGenerator):
    """Trace and span ids from a seeded generator: the same seed, the same ids.

    The collector stores a (trace_id, span_id) once, so ids must be reused only on purpose:
    `reseed` with a key that names what is sent (a backfill's window, re-sent when it was
    interrupted) or that is new each run (live traffic)."""

    def __init__(self, seed: int | str) -> None:
        self._seed = seed
        self._random = random.Random(f"ids-{seed}")

    def reseed(self, key: str) -> None:
        """From now on, the ids of (the constructor's seed, `key`)."""
        self._random = random.Random(f"ids-{self._seed}-{key}")

    def generate_span_id(self) -> int:
        return self._random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._random.getrandbits(128) or 1


class InlineBatchProcessor(SpanProcessor):
    """Buffers ended spans and exports every `batch` of them synchronously.

    It does not own the exporter (several providers, one per environment, share one), so
    `shutdown` flushes without shutting the exporter down.
    """

    def __init__(self, exporter: SpanExporter, batch: int = EXPORT_BATCH) -> None:
        self.exporter = exporter
        self.batch = batch
        self.exported = 0
        self._spans: list[ReadableSpan] = []
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self._spans.append(span)
            if len(self._spans) >= self.batch:
                self._export()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        with self._lock:
            self._export()
        return True

    def shutdown(self) -> None:
        self.force_flush()

    def _export(self) -> None:
        if not self._spans:
            return
        spans, self._spans = self._spans, []
        if self.exporter.export(spans) is not SpanExportResult.SUCCESS:
            raise ExportFailed(f"the collector did not accept {len(spans)} spans")
        self.exported += len(spans)


def inline_provider(
    processor: InlineBatchProcessor, service: str, environment: str, seed: int
) -> TracerProvider:
    """A tracer provider for one environment of the sample product."""
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": service, "deployment.environment.name": environment}
        ),
        id_generator=SeededIds(f"{seed}-{environment}"),
    )
    provider.add_span_processor(processor)
    return provider
