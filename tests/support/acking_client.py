"""A client process for the reliability tests: an app instrumented with the real OTel SDK
that keeps producing traces and exports them through the real OTLP exporter (HTTP or gRPC),
logging which spans the server acknowledged.

    python -m tests.support.acking_client --protocol http --endpoint http://127.0.0.1:4318 \
        --ack-log acks.txt --stop-file stop [--seed 1] [--traces-per-second 100]

`AckingExporter` wraps the real exporter: it writes a span's "trace_id span_id" (hex) to
the acknowledgement log only when the real exporter returned SUCCESS (HTTP 200 / gRPC OK,
after the exporter's own retries). A batch the exporter gave up on is counted as failed,
not logged: that loss is the client's own, and the summary (the last line of the log's
`.summary.json` twin) says how many spans it was. The process produces traces until the
stop file appears, then shuts the SDK down, which exports what is still queued.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

FEATURES = ("support-bot", "search", "drafts")
MODELS = ("gpt-4o", "gpt-4o-mini")


class AckingExporter(SpanExporter):
    """The real exporter, plus a log of what it delivered and a count of what it dropped."""

    def __init__(self, inner: SpanExporter, log: IO[str]) -> None:
        self._inner = inner
        self._log = log
        self._lock = threading.Lock()
        self.acked = 0
        self.failed = 0
        self.batches_failed = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self._inner.export(spans)
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self._log.writelines(
                    f"{s.context.trace_id:032x} {s.context.span_id:016x}\n"
                    for s in spans
                    if s.context is not None
                )
                self._log.flush()
                self.acked += len(spans)
            else:
                self.failed += len(spans)
                self.batches_failed += 1
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def real_exporter(protocol: str, endpoint: str, timeout: float) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter(endpoint=endpoint, insecure=True, timeout=int(timeout))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter(endpoint=f"{endpoint}/v1/traces", timeout=timeout)


def produce(provider: TracerProvider, rng: random.Random, client: str, number: int) -> None:
    """One request of the sample app: a root span carrying the attribution, two model calls."""
    tracer = provider.get_tracer("acking-client")
    feature = rng.choice(FEATURES)
    attributes = {
        "spendscope.feature": feature,
        "session.id": f"{client}-session-{number // 5}",
        "user.id": f"{client}-user-{number % 7}",
        "spendscope.tenant": "acme",
    }
    with tracer.start_as_current_span("handle", attributes=attributes):
        for _ in range(2):
            model_call = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": rng.choice(MODELS),
                "gen_ai.usage.input_tokens": rng.randint(50, 5000),
                "gen_ai.usage.output_tokens": rng.randint(10, 800),
            }
            with tracer.start_as_current_span("chat", attributes=model_call):
                pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--protocol", choices=("http", "grpc"), required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--ack-log", type=Path, required=True)
    parser.add_argument("--stop-file", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--traces-per-second", type=float, default=100.0)
    parser.add_argument("--timeout", type=float, default=30.0, help="exporter timeout (s)")
    parser.add_argument("--max-queue", type=int, default=2048, help="SDK queue size (spans)")
    args = parser.parse_args()

    client = f"{args.protocol}-{args.seed}"
    rng = random.Random(args.seed)
    with args.ack_log.open("a") as log:
        exporter = AckingExporter(real_exporter(args.protocol, args.endpoint, args.timeout), log)
        provider = TracerProvider(resource=Resource.create({"service.name": client}))
        processor = BatchSpanProcessor(
            exporter,
            max_queue_size=args.max_queue,
            schedule_delay_millis=100,
            max_export_batch_size=300,
            export_timeout_millis=int(args.timeout * 1000),
        )
        provider.add_span_processor(processor)
        produced = 0
        started = time.monotonic()
        while not args.stop_file.exists():
            produce(provider, rng, client, produced)
            produced += 1
            ahead = produced / args.traces_per_second - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        provider.shutdown()  # exports what is queued, with the exporter's retries
        summary = {
            "spans_produced": produced * 3,
            "spans_acked": exporter.acked,
            "spans_failed": exporter.failed,
            "batches_failed": exporter.batches_failed,
            # What the SDK's bounded queue dropped before any export was tried.
            "spans_dropped_in_queue": produced * 3 - exporter.acked - exporter.failed,
        }
    args.ack_log.with_suffix(".summary.json").write_text(json.dumps(summary))


if __name__ == "__main__":
    main()
