"""A request's span attributes decoded in bulk through the wire-compatible views
(`collector.ingest.traces.otlp_views`): two upb parses for all the attributes of a request
instead of several upb accesses per attribute. Exact only for the plain encoding; for any
other the answer is None and the caller takes the reference path.
"""

from __future__ import annotations

import base64
from itertools import repeat
from operator import add, sub
from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError

from collector.ingest.anyvalue import proto_value
from collector.ingest.rejections import SpanRejected
from collector.ingest.traces import otlp_views


def bulk_attributes(raw: list[bytes]) -> tuple[list[str], list[Any]] | None:
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
        nested_arrays = [[proto_value(v, 1) for v in array.values] for array in arrays]
        nested_kvlists = [
            {kv.key: proto_value(kv.value, 1) for kv in kvlist.values} for kvlist in kvlists
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
