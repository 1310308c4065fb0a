"""Decode OTLP trace exports (protobuf or JSON, optionally gzip) into span columns.

One entry point, `decode_traces`, shared by the HTTP and gRPC receivers. A body that cannot
be decoded at all raises `DecodeError` (400 / INVALID_ARGUMENT); a span that cannot be
stored is counted as rejected and reported through OTLP partial success.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any

import pyarrow as pa
from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.ingest.anyvalue import (
    json_attributes,
    json_field,
    json_hex,
    json_id,
    json_int,
    json_list,
    json_object,
    json_request,
    json_text,
    preview,
    proto_attributes,
)
from collector.ingest.bodies import JSON, PROTOBUF, BodyTooLarge, DecodeError, decompress, gunzip
from collector.ingest.columns import SpanColumns
from collector.ingest.limits import DEFAULT_ITEM_CHARS, attributes_json
from collector.ingest.normalize import Normalizer, SpanRejected
from collector.ingest.rejections import item_label
from collector.ingest.traces import otlp_views
from collector.ingest.traces.bulk import bulk_attributes

# The body rules live in `collector.ingest.bodies`; tests and tools still take them from here.
__all__ = [
    "JSON",
    "PROTOBUF",
    "BodyTooLarge",
    "DecodeError",
    "DecodedSpans",
    "decode_traces",
    "decompress",
    "gunzip",
]


@dataclass(frozen=True, slots=True)
class DecodedSpans:
    table: pa.Table
    accepted: int
    rejected: int
    rejection_message: str


def decode_traces(
    body: bytes, content_type: str, normalizer: Normalizer, item_chars: int = DEFAULT_ITEM_CHARS
) -> DecodedSpans:
    """The spans of one export; `item_chars` bounds what one span stores (`limits`)."""
    columns = SpanColumns(normalizer, item_chars)
    if content_type == PROTOBUF:
        _add_protobuf(body, columns)
    elif content_type == JSON:
        _add_json(body, columns)
    else:
        raise DecodeError(f"unsupported content type {content_type!r}")
    return DecodedSpans(
        table=columns.to_arrow(),
        accepted=columns.accepted,
        rejected=columns.rejected,
        rejection_message=columns.rejection_message,
    )


# --- protobuf -------------------------------------------------------------------------


def _add_protobuf(body: bytes, columns: SpanColumns) -> None:
    """Decode through the bulk views; any body they cannot vouch for takes the reference
    path, which also produces the error message for undecodable bodies."""
    try:
        request = otlp_views.Request.FromString(body)
    except (ProtobufDecodeError, RuntimeError, ValueError):
        request = None
    if request is None or not _add_protobuf_view(request, columns):
        _add_protobuf_generic(body, columns)


def _add_protobuf_view(request: Any, columns: SpanColumns) -> bool:
    """Add the spans of a request parsed with `otlp_views.Request`; False (and nothing
    added) when its attributes are not in the form the bulk decoding is exact for."""
    groups: list[tuple[SpanRejected | None, dict[str, Any] | None, list[Any]]] = []
    all_spans: list[Any] = []
    for resource_spans in request.resource_spans:
        scopes = [
            (scope_spans.scope.name, scope_spans.spans)
            for scope_spans in resource_spans.scope_spans
        ]
        try:
            resource_attributes = proto_attributes(resource_spans.resource.attributes)
        except SpanRejected as exc:
            groups.append((exc, None, scopes))
            continue
        groups.append((None, resource_attributes, scopes))
        for _, spans in scopes:
            all_spans.extend(spans)
    containers = [span.attributes for span in all_spans]
    bulk = bulk_attributes(list(chain.from_iterable(containers)))
    if bulk is None:
        return False
    pairs = zip(*bulk, strict=True)
    counts = iter(list(map(len, containers)))
    normalizer = columns.normalizer
    add_span = columns.add
    for rejection, kept_resource_attributes, scopes in groups:
        if rejection is not None or kept_resource_attributes is None:
            for _, spans in scopes:
                for _ in spans:
                    columns.reject(f"resource: {rejection}")
            continue
        resource = normalizer.resource_context(kept_resource_attributes)
        resource_json = attributes_json(kept_resource_attributes, columns.item_chars)
        for scope_name, spans in scopes:
            for span in spans:
                attributes = dict(islice(pairs, next(counts)))
                events: list[Any] = []
                links: list[Any] = []
                if span.events or span.links:
                    try:
                        events, links = _events_and_links(span)
                    except SpanRejected as exc:
                        columns.reject(f"{item_label('span', span.span_id)}: {exc}")
                        continue
                    except Exception as exc:  # one span's bug never fails its request
                        columns.unexpected(item_label("span", span.span_id), exc)
                        continue
                status = span.status
                add_span(
                    span.trace_id,
                    span.span_id,
                    span.parent_span_id,
                    span.name,
                    span.kind,
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                    status.code,
                    status.message,
                    attributes,
                    events,
                    links,
                    scope_name,
                    resource,
                    resource_json,
                )
    return True


def _events_and_links(span: Any) -> tuple[list[Any], list[Any]]:
    events = [
        {
            "name": event.name,
            "time_unix_nano": event.time_unix_nano,
            "attributes": proto_attributes(event.attributes),
        }
        for event in span.events
    ]
    links = [
        {
            "trace_id": link.trace_id.hex(),
            "span_id": link.span_id.hex(),
            "attributes": proto_attributes(link.attributes),
        }
        for link in span.links
    ]
    return events, links


def _add_protobuf_generic(body: bytes, columns: SpanColumns) -> None:
    """The reference decoder: the generated OTLP classes, one attribute at a time."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError(f"invalid protobuf ExportTraceServiceRequest: {exc}") from None
    normalizer = columns.normalizer
    for resource_spans in request.resource_spans:
        try:
            resource_attributes = proto_attributes(resource_spans.resource.attributes)
        except SpanRejected as exc:
            for scope_spans in resource_spans.scope_spans:
                for _ in scope_spans.spans:
                    columns.reject(f"resource: {exc}")
            continue
        resource = normalizer.resource_context(resource_attributes)
        resource_json = attributes_json(resource_attributes, columns.item_chars)
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            for span in scope_spans.spans:
                try:
                    attributes = proto_attributes(span.attributes)
                    events, links = _events_and_links(span)
                except SpanRejected as exc:
                    columns.reject(f"{item_label('span', span.span_id)}: {exc}")
                    continue
                except Exception as exc:  # one span's bug never fails its request
                    columns.unexpected(item_label("span", span.span_id), exc)
                    continue
                status = span.status
                columns.add(
                    span.trace_id,
                    span.span_id,
                    span.parent_span_id,
                    span.name,
                    span.kind,
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                    status.code,
                    status.message,
                    attributes,
                    events,
                    links,
                    scope_name,
                    resource,
                    resource_json,
                )


# --- JSON -----------------------------------------------------------------------------
# OTLP/JSON: ids are hex (not proto3 JSON's base64), 64-bit integers may be strings,
# enums are integers, keys are lowerCamelCase (snake_case accepted too), unknown keys ignored.


def _add_json(body: bytes, columns: SpanColumns) -> None:
    resource_spans_list = json_request(body, "resourceSpans", "resource_spans")
    normalizer = columns.normalizer
    for resource_spans in resource_spans_list:
        try:
            resource_spans = json_object(resource_spans, "resourceSpans item")
            resource_obj = json_object(
                json_field(resource_spans, "resource", "resource", {}), "resource"
            )
            resource_attributes = json_attributes(
                json_list(resource_obj, "attributes", "attributes")
            )
            scope_spans_list = json_list(resource_spans, "scopeSpans", "scope_spans")
        except SpanRejected as exc:
            raise DecodeError(f"invalid resourceSpans: {exc}") from None
        resource = normalizer.resource_context(resource_attributes)
        resource_json = attributes_json(resource_attributes, columns.item_chars)
        for scope_spans in scope_spans_list:
            try:
                scope_spans = json_object(scope_spans, "scopeSpans item")
                scope = json_object(json_field(scope_spans, "scope", "scope", {}), "scope")
                scope_name = scope.get("name")
                spans = json_list(scope_spans, "spans", "spans")
            except SpanRejected as exc:
                raise DecodeError(f"invalid scopeSpans: {exc}") from None
            for span in spans:
                _add_json_span(span, columns, scope_name, resource, resource_json)


def _add_json_span(
    span: Any,
    columns: SpanColumns,
    scope_name: Any,
    resource: Mapping[int, Any],
    resource_json: str | None,
) -> None:
    try:
        span = json_object(span, "span")
        status = json_object(json_field(span, "status", "status", {}), "status")
        name = json_field(span, "name", "name", "")
        if not isinstance(name, str):
            raise SpanRejected("name must be a string")
        events = []
        for event in json_list(span, "events", "events"):
            event = json_object(event, "event")
            events.append(
                {
                    "name": json_text(event.get("name"), "event name"),
                    "time_unix_nano": json_int(
                        json_field(event, "timeUnixNano", "time_unix_nano", 0), "timeUnixNano"
                    ),
                    "attributes": json_attributes(json_list(event, "attributes", "attributes")),
                }
            )
        links = []
        for link in json_list(span, "links", "links"):
            link = json_object(link, "link")
            links.append(
                {
                    # Kept as sent, whatever their length, as the protobuf decoder does.
                    "trace_id": json_hex(json_field(link, "traceId", "trace_id"), "traceId"),
                    "span_id": json_hex(json_field(link, "spanId", "span_id"), "spanId"),
                    "attributes": json_attributes(json_list(link, "attributes", "attributes")),
                }
            )
        status_message = json_field(status, "message", "message", "")
        args = (
            json_id(json_field(span, "traceId", "trace_id"), 16, "traceId"),
            json_id(json_field(span, "spanId", "span_id"), 8, "spanId"),
            json_id(json_field(span, "parentSpanId", "parent_span_id"), 8, "parentSpanId"),
            name,
            json_int(json_field(span, "kind", "kind", 0), "kind"),
            json_int(json_field(span, "startTimeUnixNano", "start_time_unix_nano", 0), "start"),
            json_int(json_field(span, "endTimeUnixNano", "end_time_unix_nano", 0), "end"),
            json_int(json_field(status, "code", "code", 0), "status code"),
            json_text(status_message, "status message"),
            json_attributes(json_list(span, "attributes", "attributes")),
        )
    except SpanRejected as exc:
        span_id = span.get("spanId") if isinstance(span, dict) else None
        columns.reject(f"span {preview(span_id, 16)}: {exc}")
        return
    except Exception as exc:  # one span's bug never fails its request
        span_id = span.get("spanId") if isinstance(span, dict) else None
        columns.unexpected(f"span {preview(span_id, 16)}", exc)
        return
    columns.add(
        *args,
        events,
        links,
        scope_name if isinstance(scope_name, str) else None,
        resource,
        resource_json,
    )
