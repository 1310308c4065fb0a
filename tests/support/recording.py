"""Deterministic trace and span ids and a span recorder for the OTel SDK's TracerProvider:
what a test application needs to export its spans when, and as, a test says.

The OTel SDK only (no gRPC, no project code): tests/support/instrumented_calls.py imports it
in .venv-openlit too.
"""

from __future__ import annotations

import zlib

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator


class CountingIds(IdGenerator):
    """Deterministic trace and span ids: a counter under a per-test namespace."""

    def __init__(self, namespace: str) -> None:
        self._namespace = zlib.crc32(namespace.encode()) or 1
        self._count = 0

    def generate_trace_id(self) -> int:
        self._count += 1
        return (self._namespace << 64) | self._count

    def generate_span_id(self) -> int:
        self._count += 1
        return (self._namespace << 24) | self._count


class SpanRecorder(SpanProcessor):
    """Keeps finished spans so a test decides when, and how often, they are exported."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)
