"""Decode OTLP trace exports (protobuf or JSON, optionally gzip) into span columns.

One entry point, `decode_traces`, shared by the HTTP and gRPC receivers. A body that cannot
be decoded at all raises `DecodeError` (400 / INVALID_ARGUMENT); a span that cannot be
stored is counted as rejected and reported through OTLP partial success.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import chain, islice, repeat
from operator import add, sub
from typing import Any

import orjson
import pyarrow as pa
from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.ingest.columns import SpanColumns, to_json
from collector.ingest.normalize import Normalizer, SpanRejected
from collector.ingest.traces import otlp_views

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MAX_ATTRIBUTE_DEPTH = 16


class DecodeError(ValueError):
    """The body is not a decodable OTLP trace export."""


class BodyTooLarge(ValueError):
    """The body, after decompression, exceeds the configured limit."""


@dataclass(frozen=True, slots=True)
class DecodedSpans:
    table: pa.Table
    accepted: int
    rejected: int
    rejection_message: str


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body, refusing to inflate past `limit` bytes (gzip bombs).

    Every member of a multi-member stream is decompressed (RFC 1952 allows concatenated
    members); anything after the last member that is not gzip makes the body invalid.
    """
    return _inflate(body, limit, 16 + zlib.MAX_WBITS, "gzip")


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo a `Content-Encoding` of gzip or deflate (zlib format), within `limit` bytes."""
    if encoding == "gzip":
        return gunzip(body, limit)
    if encoding == "deflate":
        return _inflate(body, limit, zlib.MAX_WBITS, "deflate")
    raise DecodeError(f"unsupported content encoding {encoding!r}")


def _inflate(body: bytes, limit: int, wbits: int, name: str) -> bytes:
    out = bytearray()
    rest = body
    while True:
        inflater = zlib.decompressobj(wbits=wbits)
        try:
            out += inflater.decompress(rest, limit + 1 - len(out))
        except zlib.error as exc:
            raise DecodeError(f"invalid {name} body: {exc}") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise BodyTooLarge(f"decompressed body exceeds {limit} bytes")
        if not inflater.eof:
            raise DecodeError(f"truncated {name} body")
        rest = inflater.unused_data
        if not rest:
            return bytes(out)


def decode_traces(body: bytes, content_type: str, normalizer: Normalizer) -> DecodedSpans:
    columns = SpanColumns(normalizer)
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


def _proto_value(value: Any, depth: int = 0) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if depth >= MAX_ATTRIBUTE_DEPTH:
        raise SpanRejected(f"attribute value nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
    if kind == "array_value":
        return [_proto_value(v, depth + 1) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _proto_value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def _proto_attributes(attributes: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: _proto_value(kv.value) for kv in attributes}


def _add_protobuf(body: bytes, columns: SpanColumns) -> None:
    """Decode through the bulk views; any body they cannot vouch for takes the reference
    path, which also produces the error message for undecodable bodies."""
    try:
        request = otlp_views.Request.FromString(body)
    except (ProtobufDecodeError, RuntimeError, ValueError):
        request = None
    if request is None or not _add_protobuf_view(request, columns):
        _add_protobuf_generic(body, columns)


def _bulk_attributes(raw: list[bytes]) -> tuple[list[str], list[Any]] | None:
    """Keys and values of the `KeyValue` contents in `raw`, decoded two upb parses at a
    time; None when the bytes are not the plain form these parses are exact for."""
    count = len(raw)
    if not count:
        return [], []
    try:
        pairs = otlp_views.KeyValues.FromString(b"".join(raw))
    except (ProtobufDecodeError, RuntimeError, ValueError):
        return None
    keys: list[str] = pairs.keys[:]
    values: list[bytes] = pairs.values[:]
    if len(keys) != count or len(values) != count:
        return None
    # Exactly one key and one value in each KeyValue, key first, nothing else: then the
    # i-th key and the i-th value are the i-th KeyValue's (sizes counted in bytes, so
    # keys must be ASCII; the others take the reference path).
    if not "".join(keys).isascii() or not all(map(bytes.startswith, raw, repeat(b"\n"))):
        return None
    overhead = list(map(sub, map(len, raw), map(add, map(len, keys), map(len, values))))
    if overhead.count(4) != count and not all(
        map(_kv_overhead_ok, overhead, map(len, keys), map(len, values))
    ):
        return None
    tags = [value[0] if value else 0 for value in values]
    try:
        flat = otlp_views.Values.FromString(b"".join(values))
    except (ProtobufDecodeError, RuntimeError, ValueError):
        return None
    strings, ints = flat.string_values[:], flat.int_values[:]
    doubles, bools = flat.double_values[:], flat.bool_values[:]
    arrays, kvlists, blobs = flat.array_values, flat.kvlist_values, flat.bytes_values
    known = len(strings) + len(ints) + len(doubles) + len(bools)
    known += len(arrays) + len(kvlists) + len(blobs)
    # Each non-empty AnyValue starts with a known field and there are as many fields as
    # such values: so each holds exactly one, in the order of `tags`.
    if known != count - tags.count(0) or not _VALUE_TAGS.issuperset(tags):
        return None
    try:
        nested_arrays = [[_proto_value(v, 1) for v in array.values] for array in arrays]
        nested_kvlists = [
            {kv.key: _proto_value(kv.value, 1) for kv in kvlist.values} for kvlist in kvlists
        ]
    except SpanRejected:
        return None  # the reference path says which span, with its message
    take = {
        otlp_views.TAG_STRING: iter(strings).__next__,
        otlp_views.TAG_INT: iter(ints).__next__,
        otlp_views.TAG_DOUBLE: iter(doubles).__next__,
        otlp_views.TAG_BOOL: iter(bools).__next__,
        otlp_views.TAG_ARRAY: iter(nested_arrays).__next__,
        otlp_views.TAG_KVLIST: iter(nested_kvlists).__next__,
        otlp_views.TAG_BYTES: iter([base64.b64encode(b).decode() for b in blobs]).__next__,
        0: repeat(None).__next__,
    }
    return keys, [take[tag]() for tag in tags]


def _varint_size(value: int) -> int:
    return (value.bit_length() + 6) // 7 or 1


def _kv_overhead_ok(overhead: int, key_size: int, value_size: int) -> bool:
    """Bytes of a KeyValue beyond its key and value: two tags and two length varints."""
    return overhead == 2 + _varint_size(key_size) + _varint_size(value_size)


_VALUE_TAGS = frozenset({*otlp_views.VALUE_TAGS, 0})


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
            resource_attributes = _proto_attributes(resource_spans.resource.attributes)
        except SpanRejected as exc:
            groups.append((exc, None, scopes))
            continue
        groups.append((None, resource_attributes, scopes))
        for _, spans in scopes:
            all_spans.extend(spans)
    containers = [span.attributes for span in all_spans]
    bulk = _bulk_attributes(list(chain.from_iterable(containers)))
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
        resource_json = to_json(kept_resource_attributes)
        for scope_name, spans in scopes:
            for span in spans:
                attributes = dict(islice(pairs, next(counts)))
                events: list[Any] = []
                links: list[Any] = []
                if span.events or span.links:
                    try:
                        events, links = _events_and_links(span)
                    except SpanRejected as exc:
                        columns.reject(f"span {span.span_id.hex()}: {exc}")
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
            "attributes": _proto_attributes(event.attributes),
        }
        for event in span.events
    ]
    links = [
        {
            "trace_id": link.trace_id.hex(),
            "span_id": link.span_id.hex(),
            "attributes": _proto_attributes(link.attributes),
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
            resource_attributes = _proto_attributes(resource_spans.resource.attributes)
        except SpanRejected as exc:
            for scope_spans in resource_spans.scope_spans:
                for _ in scope_spans.spans:
                    columns.reject(f"resource: {exc}")
            continue
        resource = normalizer.resource_context(resource_attributes)
        resource_json = to_json(resource_attributes)
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            for span in scope_spans.spans:
                try:
                    attributes = _proto_attributes(span.attributes)
                    events, links = _events_and_links(span)
                except SpanRejected as exc:
                    columns.reject(f"span {span.span_id.hex()}: {exc}")
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


def _field(obj: Mapping[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    value = obj.get(camel)
    if value is None:
        value = obj.get(snake, default)
    return default if value is None else value


def _list(obj: Mapping[str, Any], camel: str, snake: str) -> list[Any]:
    value = _field(obj, camel, snake, [])
    if not isinstance(value, list):
        raise SpanRejected(f"{camel} must be a list")
    return value


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise SpanRejected(f"{what} must be an object")
    return value


INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


def _json_int(value: Any, what: str, low: int = 0, high: int = UINT64_MAX) -> int:
    """A 64-bit integer field: a JSON number or a decimal string, within [low, high]."""
    number: int | None = None
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = int(value)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None:
        raise SpanRejected(f"{what} must be an integer, got {str(value)[:40]!r}")
    if not low <= number <= high:
        raise SpanRejected(f"{what} {number} is outside the 64-bit range")
    return number


def _json_id(value: Any, size: int, what: str) -> bytes:
    if value is None or value == "":
        return b""
    if not isinstance(value, str) or len(value) != size * 2:
        raise SpanRejected(f"{what} must be {size * 2} hex characters")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise SpanRejected(f"{what} is not hex") from None


def _json_hex(value: Any, what: str) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise SpanRejected(f"{what} must be a hex string")
    try:
        return bytes.fromhex(value).hex()
    except ValueError:
        raise SpanRejected(f"{what} is not hex") from None


def _json_value(value: Any, depth: int = 0) -> Any:
    if not isinstance(value, dict) or not value:
        return None
    for key, raw in value.items():
        if key in ("stringValue", "string_value"):
            return raw if isinstance(raw, str) else str(raw)
        if key in ("intValue", "int_value"):
            return _json_int(raw, "intValue", INT64_MIN, INT64_MAX)
        if key in ("doubleValue", "double_value"):
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                return float(raw)
            try:
                return float(raw)
            except (TypeError, ValueError):
                raise SpanRejected("doubleValue must be a number") from None
        if key in ("boolValue", "bool_value"):
            return bool(raw)
        if depth >= MAX_ATTRIBUTE_DEPTH:
            raise SpanRejected(f"attribute value nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
        if key in ("arrayValue", "array_value"):
            values = _list(_object(raw, "arrayValue"), "values", "values")
            return [_json_value(v, depth + 1) for v in values]
        if key in ("kvlistValue", "kvlist_value"):
            values = _list(_object(raw, "kvlistValue"), "values", "values")
            return _json_attributes(values, depth + 1)
        if key in ("bytesValue", "bytes_value"):
            if not isinstance(raw, str):
                raise SpanRejected("bytesValue must be base64")
            try:
                base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                raise SpanRejected("bytesValue must be base64") from None
            return raw
    return None


def _json_attributes(items: list[Any], depth: int = 0) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for item in items:
        item = _object(item, "attribute")
        key = item.get("key", "")  # proto3 JSON leaves out the default, an empty key
        if not isinstance(key, str):
            raise SpanRejected("attribute key must be a string")
        attributes[key] = _json_value(item.get("value"), depth)
    return attributes


def _json_request(body: bytes, camel: str, snake: str) -> list[Any]:
    """An OTLP/JSON export request's list of resource items (`resourceSpans`, ...)."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise DecodeError("OTLP/JSON body must be an object")
    items = _field(request, camel, snake, [])
    if not isinstance(items, list):
        raise DecodeError(f"{camel} must be a list")
    return items


def _add_json(body: bytes, columns: SpanColumns) -> None:
    resource_spans_list = _json_request(body, "resourceSpans", "resource_spans")
    normalizer = columns.normalizer
    for resource_spans in resource_spans_list:
        try:
            resource_spans = _object(resource_spans, "resourceSpans item")
            resource_obj = _object(_field(resource_spans, "resource", "resource", {}), "resource")
            resource_attributes = _json_attributes(_list(resource_obj, "attributes", "attributes"))
            scope_spans_list = _list(resource_spans, "scopeSpans", "scope_spans")
        except SpanRejected as exc:
            raise DecodeError(f"invalid resourceSpans: {exc}") from None
        resource = normalizer.resource_context(resource_attributes)
        resource_json = to_json(resource_attributes)
        for scope_spans in scope_spans_list:
            try:
                scope_spans = _object(scope_spans, "scopeSpans item")
                scope = _object(_field(scope_spans, "scope", "scope", {}), "scope")
                scope_name = scope.get("name")
                spans = _list(scope_spans, "spans", "spans")
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
        span = _object(span, "span")
        status = _object(_field(span, "status", "status", {}), "status")
        name = _field(span, "name", "name", "")
        if not isinstance(name, str):
            raise SpanRejected("name must be a string")
        events = []
        for event in _list(span, "events", "events"):
            event = _object(event, "event")
            events.append(
                {
                    "name": event.get("name") or "",
                    "time_unix_nano": _json_int(
                        _field(event, "timeUnixNano", "time_unix_nano", 0), "timeUnixNano"
                    ),
                    "attributes": _json_attributes(_list(event, "attributes", "attributes")),
                }
            )
        links = []
        for link in _list(span, "links", "links"):
            link = _object(link, "link")
            links.append(
                {
                    # Kept as sent, whatever their length, as the protobuf decoder does.
                    "trace_id": _json_hex(_field(link, "traceId", "trace_id"), "traceId"),
                    "span_id": _json_hex(_field(link, "spanId", "span_id"), "spanId"),
                    "attributes": _json_attributes(_list(link, "attributes", "attributes")),
                }
            )
        status_message = _field(status, "message", "message", "")
        args = (
            _json_id(_field(span, "traceId", "trace_id"), 16, "traceId"),
            _json_id(_field(span, "spanId", "span_id"), 8, "spanId"),
            _json_id(_field(span, "parentSpanId", "parent_span_id"), 8, "parentSpanId"),
            name,
            _json_int(_field(span, "kind", "kind", 0), "kind"),
            _json_int(_field(span, "startTimeUnixNano", "start_time_unix_nano", 0), "start"),
            _json_int(_field(span, "endTimeUnixNano", "end_time_unix_nano", 0), "end"),
            _json_int(_field(status, "code", "code", 0), "status code"),
            status_message if isinstance(status_message, str) else str(status_message),
            _json_attributes(_list(span, "attributes", "attributes")),
        )
    except SpanRejected as exc:
        span_id = span.get("spanId") if isinstance(span, dict) else None
        columns.reject(f"span {str(span_id)[:16]}: {exc}")
        return
    columns.add(
        *args,
        events,
        links,
        scope_name if isinstance(scope_name, str) else None,
        resource,
        resource_json,
    )
