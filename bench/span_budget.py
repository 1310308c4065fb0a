"""One core's budget per span at 40,000 spans/s (25 us), against the lower bounds of its parts.

    .venv/bin/python -m bench.span_budget [--batches 10] [--repeat 20] [--cpu 0]

The ingest target (docs/benchmarks.md) leaves 25 us of CPU per span for everything: HTTP,
protobuf parsing, attribute decoding, normalization, the Arrow table, the DuckDB insert
and its commit. This prints, in CPU microseconds per span of `sample_data.harness.payloads`'
realistic
1000-span requests, on one pinned core:

- what no CPython decoder can go below: the upb parse of the request alone, then the parse
  plus reading each span's own fields once (ids, name, kind, times, status) into a tuple,
  before a single attribute is looked at;
- the server's whole decode (`collector.ingest.traces.decode.decode_traces`: parse, attributes,
  normalization, Arrow table), as a reference;
- what DuckDB takes to store the decoded spans (`bench.storage.run`): the real table with
  its primary key, and the same columns without the key, the cheapest insert of this row;

and the sum of the two floors (parse with span fields + the key-less insert) beside the
budget. When that sum alone reaches the budget, no change to the Python side can meet the
target with this storage: it needs a decoder in native code and a cheaper row.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.storage import decoded_batches, run
from collector.ingest.normalize import Normalizer
from collector.ingest.traces.decode import PROTOBUF, decode_traces
from sample_data.harness.payloads import make_template

SPANS_PER_REQUEST = 1000
TARGET_SPANS_PER_SECOND = 40_000


def _cpu_us_per_span(work: Callable[[], object], repeat: int) -> float:
    work()  # warm
    start = time.process_time()
    for _ in range(repeat):
        work()
    return (time.process_time() - start) / repeat / SPANS_PER_REQUEST * 1e6


def _parse(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return request


def _span_fields(body: bytes) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for resource in _parse(body).resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                rows.append(
                    (span.trace_id, span.span_id, span.parent_span_id, span.name, span.kind,
                     span.start_time_unix_nano, span.end_time_unix_nano, span.status.code)
                )  # fmt: skip
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.span_budget", description=__doc__)
    parser.add_argument("--batches", type=int, default=10, help="commits of 10,000 spans")
    parser.add_argument("--repeat", type=int, default=20, help="decodes of each measurement")
    parser.add_argument("--cpu", type=int, default=0, help="core to pin to")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {args.cpu})
    body = make_template(SPANS_PER_REQUEST, 7, json=False).body
    normalizer = Normalizer()
    budget = 1e6 / TARGET_SPANS_PER_SECOND
    print(f"budget at {TARGET_SPANS_PER_SECOND:,} spans/s on one core: {budget:.1f} us per span")
    print("decoding (CPU per span):")
    parse = _cpu_us_per_span(lambda: _parse(body), args.repeat)
    print(f"  upb parse only                {parse:6.1f} us")
    fields = _cpu_us_per_span(lambda: _span_fields(body), args.repeat)
    print(f"  parse + each span's fields    {fields:6.1f} us   (no attribute read yet)")
    decode = _cpu_us_per_span(lambda: decode_traces(body, PROTOBUF, normalizer), args.repeat)
    print(f"  the server's decode_traces    {decode:6.1f} us")
    print(f"storing ({args.batches} commits of 10,000 spans, 1 DuckDB thread):")
    batches = decoded_batches(args.batches, 10_000)
    run("warehouse (primary key)", batches, keyed=True)
    insert = run("no primary key", batches, keyed=False)
    floor = fields + insert
    print(
        f"floor: parse + span fields + key-less insert = {floor:.1f} us per span, "
        f"{floor / budget:.0%} of the budget, before attributes, normalization and HTTP "
        f"(the server's decode + keyed insert today: see above)"
    )
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
