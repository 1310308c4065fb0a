"""A request's span attributes decoded in bulk through the wire-compatible views
(`collector.ingest.traces.otlp_views`): two upb parses for all the attributes of a request
instead of several upb accesses per attribute. Exact only for the plain encoding; for any
other the answer is None and the caller takes the reference path.

The parses read the concatenation of many KeyValue contents, so a length that lies inside
one of them could run into the next one's bytes, where the reference parser (each KeyValue
on its own) fails. The answer is given only when each field provably lies within its own
KeyValue and AnyValue:

- KeyValues: every field takes at least its canonical size (one tag byte, the shortest
  length varint, the payload); the canonical sizes of each parsed key and value add up,
  pair by pair, to the KeyValues' own lengths, so to the whole concatenation: every field
  took exactly its canonical size. KeyValue i starts with a key tag, so the parse is at its
  start when it reads it (by induction); the byte right after that key holds a value tag,
  so its fields are its key then its value, and its value ends where it does.
- AnyValues: `MergedValues` parses each value as a message within its own value field, so
  a length that lies inside an AnyValue fails that parse. Each non-empty AnyValue holds at
  least one field and there are as many fields as such values: each holds exactly one,
  whose tag is its first byte, which orders the per-kind lists.
"""

from __future__ import annotations

import base64
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from itertools import repeat
from operator import add, getitem, sub
from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError

from collector.ingest.anyvalue import proto_value
from collector.ingest.limits import cut_key, cut_keys
from collector.ingest.rejections import SpanRejected
from collector.ingest.traces import otlp_views


def bulk_attributes(raw: list[bytes]) -> tuple[list[str], list[Any]] | None:
    """Keys and values of the `KeyValue` contents in `raw`, decoded two upb parses at a
    time; None when the bytes are not the plain form these parses are exact for."""
    count = len(raw)
    if not count:
        return [], []
    joined = b"".join(raw)
    try:
        pairs = otlp_views.KeyValues.FromString(joined)
    except (ProtobufDecodeError, RuntimeError, ValueError):
        return None
    keys: list[str] = pairs.keys[:]
    values: list[bytes] = pairs.values[:]
    if len(keys) != count or len(values) != count:
        return None
    # Key sizes are counted in characters, so keys must be ASCII (others: reference path).
    if not "".join(keys).isascii() or not all(map(bytes.startswith, raw, repeat(b"\n"))):
        return None
    if not _key_values_aligned(raw, keys, values):
        return None
    decoded = _values(joined, values)
    return None if decoded is None else (cut_keys(keys), decoded)


def _key_values_aligned(raw: list[bytes], keys: list[str], values: list[bytes]) -> bool:
    """Each KeyValue in `raw` is its key field then its value field, as parsed (module doc)."""
    key_sizes = list(map(len, keys))
    overhead = list(map(sub, map(len, raw), map(add, key_sizes, map(len, values))))
    if overhead.count(4) == len(raw):
        # Two tags and two one-byte lengths each: canonical only for keys and values under
        # 128 bytes, and no field can take less, so each key takes 2 + its size.
        key_fields: Iterable[int] = map(add, key_sizes, repeat(2))
    else:
        key_fields = list(_field_sizes(key_sizes))
        sizes = map(add, key_fields, _field_sizes(list(map(len, values))))
        if list(sizes) != list(map(len, raw)):
            return False
    after_key = list(map(getitem, raw, key_fields))
    return after_key.count(otlp_views.VALUE_TAG) == len(raw)


def _field_sizes(payload_sizes: list[int]) -> Iterator[int]:
    """Canonical sizes of length-delimited fields (numbers 1-15) with these payload sizes:
    one tag byte, the length varint, the payload."""
    lengths = map(bisect_right, repeat(_VARINT_LIMITS), payload_sizes)
    return map(add, payload_sizes, map(add, repeat(2), lengths))


def _values(joined: bytes, values: list[bytes]) -> list[Any] | None:
    """The AnyValue contents in `values` (of the KeyValues in `joined`) as Python values;
    None when not provably exact."""
    tags = [value[0] if value else 0 for value in values]
    if not _VALUE_TAGS.issuperset(tags):
        return None
    try:
        flat = otlp_views.MergedValues.FromString(joined).values
    except (ProtobufDecodeError, RuntimeError, ValueError):
        return None
    strings, ints = flat.string_values[:], flat.int_values[:]
    doubles, bools = flat.double_values[:], flat.bool_values[:]
    arrays, kvlists, blobs = flat.array_values, flat.kvlist_values, flat.bytes_values
    known = len(strings) + len(ints) + len(doubles) + len(bools)
    known += len(arrays) + len(kvlists) + len(blobs)
    if known != len(values) - tags.count(0):
        return None
    try:
        nested_arrays = [[proto_value(v, 1) for v in array.values] for array in arrays]
        nested_kvlists = [
            {cut_key(kv.key): proto_value(kv.value, 1) for kv in kvlist.values}
            for kvlist in kvlists
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
    return [take[tag]() for tag in tags]


# A varint of n bytes holds the values below 128**n.
_VARINT_LIMITS = [128**n for n in range(1, 10)]
_VALUE_TAGS = frozenset({*otlp_views.VALUE_TAGS, 0})
