"""Wire-compatible views of the OTLP trace messages, for decoding attributes in bulk.

Reading a span's attributes through the generated OTLP classes costs four upb accesses and
a `WhichOneof` per attribute (about 2.4 us each, most of the decode time). These views parse
the same bytes with schemas that let upb do that work for a whole request at once:

- `Request` mirrors `ExportTraceServiceRequest` (down to `Span`, whose other messages are
  the real OTLP ones), except that `Span.attributes` (field 9) is `repeated bytes`: each
  element is the content of one `KeyValue`.
- `KeyValues` parses the concatenation of those contents: `keys` (field 1) and `values`
  (field 2, the content of each `AnyValue`) come out as two lists, in order.
- `Values` is an `AnyValue` whose oneof's field numbers became repeated fields; `MergedValues`
  parses the same concatenation as `KeyValues` with each value as a `Values` message: a
  singular message field that occurs again is merged into the first, so all the values of a
  request come out as one list per kind, in order within each kind, each value parsed
  within its own bytes.

The decoder (`collector.ingest.traces.bulk`) proves that every `KeyValue` held exactly its
key then its value and every `AnyValue` exactly one known field, each within its own bytes,
before trusting the lists, and falls back to the generated classes otherwise, so the result
is the same for every body, the invalid ones included.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

_F = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "spendscope.otlpview"
_COMMON = ".opentelemetry.proto.common.v1."
_TRACE = ".opentelemetry.proto.trace.v1."
_RESOURCE = ".opentelemetry.proto.resource.v1."
_OPTIONAL, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED

# (name, number, type, label, message type) per field. Only these four messages and the
# bulk views are redeclared; every other message is the real OTLP one.
_MESSAGES: dict[str, list[tuple[str, int, int, int, str | None]]] = {
    "Request": [("resource_spans", 1, _F.TYPE_MESSAGE, _REPEATED, ".ResourceSpans")],
    "ResourceSpans": [
        ("resource", 1, _F.TYPE_MESSAGE, _OPTIONAL, _RESOURCE + "Resource"),
        ("scope_spans", 2, _F.TYPE_MESSAGE, _REPEATED, ".ScopeSpans"),
        ("schema_url", 3, _F.TYPE_STRING, _OPTIONAL, None),
    ],
    "ScopeSpans": [
        ("scope", 1, _F.TYPE_MESSAGE, _OPTIONAL, _COMMON + "InstrumentationScope"),
        ("spans", 2, _F.TYPE_MESSAGE, _REPEATED, ".Span"),
        ("schema_url", 3, _F.TYPE_STRING, _OPTIONAL, None),
    ],
    # Enums are read as int32: the same varint on the wire, unknown values kept alike.
    "Span": [
        ("trace_id", 1, _F.TYPE_BYTES, _OPTIONAL, None),
        ("span_id", 2, _F.TYPE_BYTES, _OPTIONAL, None),
        ("trace_state", 3, _F.TYPE_STRING, _OPTIONAL, None),
        ("parent_span_id", 4, _F.TYPE_BYTES, _OPTIONAL, None),
        ("flags", 16, _F.TYPE_FIXED32, _OPTIONAL, None),
        ("name", 5, _F.TYPE_STRING, _OPTIONAL, None),
        ("kind", 6, _F.TYPE_INT32, _OPTIONAL, None),
        ("start_time_unix_nano", 7, _F.TYPE_FIXED64, _OPTIONAL, None),
        ("end_time_unix_nano", 8, _F.TYPE_FIXED64, _OPTIONAL, None),
        ("attributes", 9, _F.TYPE_BYTES, _REPEATED, None),  # the one change: raw KeyValues
        ("dropped_attributes_count", 10, _F.TYPE_UINT32, _OPTIONAL, None),
        ("events", 11, _F.TYPE_MESSAGE, _REPEATED, _TRACE + "Span.Event"),
        ("dropped_events_count", 12, _F.TYPE_UINT32, _OPTIONAL, None),
        ("links", 13, _F.TYPE_MESSAGE, _REPEATED, _TRACE + "Span.Link"),
        ("dropped_links_count", 14, _F.TYPE_UINT32, _OPTIONAL, None),
        ("status", 15, _F.TYPE_MESSAGE, _OPTIONAL, _TRACE + "Status"),
    ],
    "KeyValues": [
        ("keys", 1, _F.TYPE_STRING, _REPEATED, None),
        ("values", 2, _F.TYPE_BYTES, _REPEATED, None),
    ],
    # The same concatenation, each value parsed as a `Values` message within its own field:
    # the occurrences of a singular message field merge, so the lists come out in order.
    "MergedValues": [
        ("keys", 1, _F.TYPE_STRING, _REPEATED, None),
        ("values", 2, _F.TYPE_MESSAGE, _OPTIONAL, ".Values"),
    ],
    "Values": [
        ("string_values", 1, _F.TYPE_STRING, _REPEATED, None),
        ("bool_values", 2, _F.TYPE_BOOL, _REPEATED, None),
        ("int_values", 3, _F.TYPE_INT64, _REPEATED, None),
        ("double_values", 4, _F.TYPE_DOUBLE, _REPEATED, None),
        ("array_values", 5, _F.TYPE_MESSAGE, _REPEATED, _COMMON + "ArrayValue"),
        ("kvlist_values", 6, _F.TYPE_MESSAGE, _REPEATED, _COMMON + "KeyValueList"),
        ("bytes_values", 7, _F.TYPE_BYTES, _REPEATED, None),
    ],
}

# First byte of an AnyValue content with one field: the tag (field number << 3 | wire type).
TAG_STRING, TAG_BOOL, TAG_INT, TAG_DOUBLE = 0x0A, 0x10, 0x18, 0x21
TAG_ARRAY, TAG_KVLIST, TAG_BYTES = 0x2A, 0x32, 0x3A
VALUE_TAGS = frozenset(
    {TAG_STRING, TAG_BOOL, TAG_INT, TAG_DOUBLE, TAG_ARRAY, TAG_KVLIST, TAG_BYTES}
)
KEY_TAG = 0x0A  # KeyValue.key, field 1, length-delimited
VALUE_TAG = 0x12  # KeyValue.value, field 2, length-delimited


def _file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name="spendscope/otlpview.proto",
        package=_PACKAGE,
        syntax="proto3",
        dependency=[trace_pb2.DESCRIPTOR.name],
    )
    for name, fields in _MESSAGES.items():
        message = proto.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=kind, label=label)  # type: ignore[arg-type]
            if type_name is not None:
                local = not type_name.startswith(".opentelemetry.")
                field.type_name = f".{_PACKAGE}{type_name}" if local else type_name
    return proto


def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for module in (common_pb2, resource_pb2, trace_pb2):  # dependencies first
        file_proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(file_proto)
        pool.Add(file_proto)
    pool.Add(_file())
    return pool


_POOL = _pool()


def _message(name: str) -> Any:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(name))


Request = _message(f"{_PACKAGE}.Request")
KeyValues = _message(f"{_PACKAGE}.KeyValues")
Values = _message(f"{_PACKAGE}.Values")
MergedValues = _message(f"{_PACKAGE}.MergedValues")
