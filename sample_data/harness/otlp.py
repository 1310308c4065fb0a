"""Building OTLP trace exports for tests: protobuf messages, their bytes and OTLP/JSON.

Ids are derived from small integers so that tests can say which spans they expect back.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
BASE_NS = 1_763_800_000_000_000_000  # 2025-11-22, a fixed clock for every test span

Attributes = Mapping[str, str | int | float | bool]

MODEL_CALL: dict[str, str | int] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 20,
}


def trace_id(n: int) -> bytes:
    return n.to_bytes(16, "big")


def span_id(n: int) -> bytes:
    return n.to_bytes(8, "big")


def any_value(value: str | int | float | bool | list[str]) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    out = AnyValue()
    out.array_value.values.extend(AnyValue(string_value=item) for item in value)
    return out


def key_values(attributes: Mapping[str, str | int | float | bool | list[str]]) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


def span(
    trace: int,
    number: int,
    parent: int | None = None,
    *,
    name: str = "step",
    start_offset_ms: int = 0,
    attributes: Attributes | None = None,
) -> Span:
    start = BASE_NS + start_offset_ms * 1_000_000
    return Span(
        trace_id=trace_id(trace),
        span_id=span_id(number),
        parent_span_id=span_id(parent) if parent is not None else b"",
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 5_000_000,
        attributes=key_values(attributes or {}),
    )


def request(spans: Iterable[Span], resource: Attributes | None = None) -> ExportTraceServiceRequest:
    export = ExportTraceServiceRequest()
    resource_spans = export.resource_spans.add()
    resource_spans.resource.attributes.extend(key_values(resource or {"service.name": "tests"}))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "tests"
    scope_spans.spans.extend(spans)
    return export


def to_json(export: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON: proto3 JSON mapping, except that trace and span ids are hex."""
    document: dict[str, Any] = json_format.MessageToDict(export, use_integers_for_enums=True)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for item in scope_spans.get("spans", []):
                _hex_ids(item)
                for link in item.get("links", []):
                    _hex_ids(link)
    return orjson.dumps(document)


def _hex_ids(obj: dict[str, Any]) -> None:
    for key in ("traceId", "spanId", "parentSpanId"):
        if key in obj:
            obj[key] = base64.b64decode(obj[key]).hex()
