"""Real OTLP clients for the integration tests: the OTel SDK exporters, deterministic
clocks, raw gRPC calls, and reading the server's Prometheus metrics (deterministic span ids
and the span recorder are tests/support/recording.py's)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

import grpc
from opentelemetry.exporter.otlp.common.http import Compression as JsonCompression
from opentelemetry.exporter.otlp.json.http.trace_exporter import (
    OTLPSpanExporter as JsonHttpSpanExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as ProtobufHttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client.parser import text_string_to_metric_families

from sample_data.harness.server import ServerProcess

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# Every exporter the Python SDK ships, as `<transport>-<encoding>[-gzip]`.
EXPORTER_KINDS = (
    "http-protobuf",
    "http-protobuf-gzip",
    "http-protobuf-deflate",
    "http-json",
    "http-json-gzip",
    "grpc",
    "grpc-gzip",
)
UNCOMPRESSED_KINDS = ("http-protobuf", "http-json", "grpc")

# 2026-01-01T00:00:00Z; span times are offsets from it plus a sub-microsecond remainder,
# which the warehouse (microsecond timestamps) truncates.
EPOCH_NS = 1_767_225_600_000_000_000
SUB_MICROSECOND_NS = 789


def at(offset_ms: int) -> int:
    """A deterministic span time: `offset_ms` after EPOCH_NS, in Unix nanoseconds."""
    return EPOCH_NS + offset_ms * 1_000_000 + 123_000 + SUB_MICROSECOND_NS


def utc(unix_ns: int) -> dt.datetime:
    """What the API reports for a Unix-nanosecond time: UTC, truncated to microseconds."""
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=unix_ns // 1000)


class Endpoints(Protocol):
    """Where a spendscope server listens (a `ServerProcess`, or its addresses)."""

    @property
    def http_url(self) -> str: ...

    @property
    def grpc_endpoint(self) -> str: ...


def make_exporter(
    kind: str, server: Endpoints, headers: dict[str, str] | None = None
) -> SpanExporter:
    """The SDK's own exporter for `kind` (see EXPORTER_KINDS), pointed at `server`.

    `headers` go out as HTTP headers, or as gRPC metadata; None leaves the exporter to read
    OTEL_EXPORTER_OTLP_HEADERS like an application would.
    """
    gzip = kind.endswith("-gzip")
    endpoint = f"{server.http_url}/v1/traces"
    if kind.startswith("http-protobuf"):
        compression = HttpCompression.NoCompression
        if gzip:
            compression = HttpCompression.Gzip
        elif kind.endswith("-deflate"):
            compression = HttpCompression.Deflate
        return ProtobufHttpSpanExporter(
            endpoint=endpoint,
            headers=headers,
            compression=compression,
            timeout=10,
        )
    if kind.startswith("http-json"):
        return JsonHttpSpanExporter(
            endpoint=endpoint,
            headers=headers,
            compression=JsonCompression.GZIP if gzip else JsonCompression.NONE,
            timeout=10,
        )
    if kind.startswith("grpc"):
        return GrpcSpanExporter(
            endpoint=server.grpc_endpoint,
            insecure=True,
            headers=headers,
            compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
            timeout=10,
        )
    raise ValueError(f"unknown exporter kind {kind!r}")


def grpc_export(
    server: Endpoints,
    body: bytes,
    metadata: Sequence[tuple[str, str]] = (),
    compression: grpc.Compression = grpc.Compression.NoCompression,
) -> ExportTraceServiceResponse:
    """One raw `TraceService/Export` call with an already serialized request."""
    with grpc.insecure_channel(server.grpc_endpoint, compression=compression) as channel:
        export = channel.unary_unary(
            EXPORT_METHOD, response_deserializer=ExportTraceServiceResponse.FromString
        )
        response: ExportTraceServiceResponse = export(body, metadata=metadata, timeout=10)
        return response


def metric(server: ServerProcess, name: str, **labels: str) -> float:
    """The value of one sample on the server's /metrics (0 when it has not appeared yet)."""
    response = server.get("/metrics")
    response.raise_for_status()
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0
