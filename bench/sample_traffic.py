"""Sample-traffic benchmark: how fast the demo's backfill goes, and where the time is.

    .venv/bin/python -m bench.sample_traffic [--days 28] [--seed 7]

Three runs of the same history (`sample_data.schedule.history`, the demo's default shape):
1. the OTel SDK making the spans, exported nowhere (the generator's own cost);
2. the same plus the OTLP protobuf encoding the exporter does (all the client's work);
3. the demo's real backfill (`SampleSender`) into a `spendscope serve` subprocess over
   OTLP/HTTP, until the jobs have priced and rolled it all up.
Prints spans/s of each and the end-to-end time beside its target: the demo's default
28 days populated within 90 s (so that `make demo` stays under five minutes with the
install). Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from sample_data.export import InlineBatchProcessor, inline_provider
from sample_data.harness.server import ServerProcess
from sample_data.product import PRODUCTION, STAGING, VALUE_UNITS
from sample_data.schedule import history
from sample_data.sender import SampleSender
from sample_data.traffic import SampleTraffic

TARGET_SECONDS = 90.0


class Discard(SpanExporter):
    def __init__(self, encode: bool) -> None:
        self.encode = encode
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.encode:
            encode_spans(spans).SerializeToString()
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


def generate(days: float, seed: int, encode: bool) -> tuple[int, float]:
    exporter = Discard(encode)
    processor = InlineBatchProcessor(exporter)
    tracers = {
        env: inline_provider(processor, "bench", env, seed).get_tracer("bench")
        for env in (PRODUCTION, STAGING)
    }
    traffic = SampleTraffic(tracers[PRODUCTION], seed=seed, environments=tracers)
    end = dt.datetime.now(dt.UTC)
    plan = history(end - dt.timedelta(days=days), end, seed)
    started = time.perf_counter()
    for session in plan:
        traffic.emit(session)
    processor.force_flush()
    return exporter.spans, time.perf_counter() - started


def backfill(days: float, seed: int) -> tuple[int, float, float]:
    units = ",".join(f"{k}={v}" for k, v in VALUE_UNITS.items())
    with (
        tempfile.TemporaryDirectory() as tmp,
        ServerProcess(Path(tmp), env={"SPENDSCOPE_VALUE_UNITS": units}) as server,
    ):
        sender = SampleSender(server.http_url, seed=seed)
        started = time.perf_counter()
        sender.backfill(days)
        sent = time.perf_counter() - started
        server.wait_attributed(timeout=300)
        done = time.perf_counter() - started
        spans = sender.processor.exported
        sender.close()
    return spans, sent, done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=28.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    spans, sdk = generate(args.days, args.seed, encode=False)
    print(f"SDK spans only          {spans:>8,} spans {sdk:6.1f} s {spans / sdk:>8,.0f} spans/s")
    spans, client = generate(args.days, args.seed, encode=True)
    print(
        f"SDK + OTLP encoding     {spans:>8,} spans {client:6.1f} s {spans / client:>8,.0f} spans/s"
    )
    spans, sent, done = backfill(args.days, args.seed)
    print(f"backfill, sent          {spans:>8,} spans {sent:6.1f} s {spans / sent:>8,.0f} spans/s")
    print(f"backfill, rolled up     {spans:>8,} spans {done:6.1f} s {spans / done:>8,.0f} spans/s")
    print(f"end to end / client-only work: {done / client:.2f}x")
    verdict = "met" if done <= TARGET_SECONDS else "MISSED"
    print(f"target: {args.days:g} days populated within {TARGET_SECONDS:.0f} s: {verdict}")
    return 0 if done <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
