"""A request's span attributes decoded in bulk through the wire-compatible views
(`collector.ingest.traces.otlp_views`): two upb parses for all the attributes of a request
instead of several upb accesses per attribute. Exact only for the plain encoding; for any
other the answer is None and the caller takes the reference path.

The parses read the concatenation of many KeyValue (then AnyValue) contents, so a length
that lies inside one of them would run into the next one's bytes, where the reference
parser (each KeyValue on its own) fails. The answer is given only when every field of the
concatenation provably lies within its own KeyValue / AnyValue:

- every field takes at least its canonical size (one tag byte, the shortest length or
  value varint, the payload; an array or kvlist at least its `ByteSize()`);
- the canonical sizes computed from what was parsed add up, item by item, to the items'
  own lengths, so they add up to the whole concatenation: every field took exactly its
  canonical size;
- item i starts with the tag of its first field, so the parse is at item i's start when it
  reads it (by induction); for a KeyValue, the byte right after its key holds the value's
  tag, so its fields are its key then its value, and its value ends where the item does.
"""

from __future__ import annotations

import base64
from bisect import bisect_right
from collections.abc import Iterator
from itertools import repeat
from operator import add, getitem, methodcaller
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
    try:
        pairs = otlp_views.KeyValues.FromString(b"".join(raw))
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
    decoded = _values(values)
    return None if decoded is None else (cut_keys(keys), decoded)


def _field_sizes(payload_sizes: list[int]) -> Iterator[int]:
    """Canonical sizes of length-delimited fields (numbers 1-15) with these payload sizes:
    one tag byte, the length varint, the payload."""
    if not payload_sizes or max(payload_sizes) < 128:  # one-byte lengths: the common case
        return map(add, payload_sizes, repeat(2))
    lengths = map(bisect_right, repeat(_VARINT_LIMITS), payload_sizes)
    return map(add, payload_sizes, map(add, repeat(2), lengths))


def _key_values_aligned(raw: list[bytes], keys: list[str], values: list[bytes]) -> bool:
    """Each KeyValue in `raw` is its key field then its value field, as parsed (module doc)."""
    key_fields = list(_field_sizes(list(map(len, keys))))
    sizes = list(map(add, key_fields, _field_sizes(list(map(len, values)))))
    if sizes != list(map(len, raw)):
        return False
    after_key = list(map(getitem, raw, key_fields))
    return after_key.count(otlp_views.VALUE_TAG) == len(raw)


def _values(values: list[bytes]) -> list[Any] | None:
    """The AnyValue contents in `values` as Python values; None when not provably exact."""
    tags = [value[0] if value else 0 for value in values]
    if not _VALUE_TAGS.issuperset(tags):
        return None
    try:
        flat = otlp_views.Values.FromString(b"".join(values))
    except (ProtobufDecodeError, RuntimeError, ValueError):
        return None
    strings: list[str] = flat.string_values[:]
    ints: list[int] = flat.int_values[:]
    doubles, bools = flat.double_values[:], flat.bool_values[:]
    arrays, kvlists, blobs = flat.array_values, flat.kvlist_values, flat.bytes_values[:]
    known = len(strings) + len(ints) + len(doubles) + len(bools)
    known += len(arrays) + len(kvlists) + len(blobs)
    if known != len(values) - tags.count(0):
        return None
    if "".join(strings).isascii():
        string_sizes = list(map(len, strings))
    else:
        string_sizes = list(map(len, map(str.encode, strings)))
    # The canonical size of each value's field, taken in the order of `tags` (module doc).
    sizes = {
        otlp_views.TAG_STRING: iter(_field_sizes(string_sizes)).__next__,
        otlp_views.TAG_INT: iter(_varint_sizes(ints)).__next__,
        otlp_views.TAG_DOUBLE: iter(repeat(9, len(doubles))).__next__,
        otlp_views.TAG_BOOL: iter(repeat(2, len(bools))).__next__,
        otlp_views.TAG_BYTES: iter(_field_sizes(list(map(len, blobs)))).__next__,
        otlp_views.TAG_ARRAY: iter(_field_sizes(list(map(_BYTE_SIZE, arrays)))).__next__,
        otlp_views.TAG_KVLIST: iter(_field_sizes(list(map(_BYTE_SIZE, kvlists)))).__next__,
        0: repeat(0).__next__,
    }
    try:
        if [sizes[tag]() for tag in tags] != list(map(len, values)):
            return None
    except StopIteration:  # more values of a kind than fields of that kind
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


def _varint_sizes(numbers: list[int]) -> Iterator[int]:
    """Canonical sizes of int64 varint fields: the tag byte and the varint (a negative
    number takes ten bytes)."""
    if not numbers or (min(numbers) >= 0 and max(numbers) < 128):
        return repeat(2, len(numbers))
    unsigned = map(_U64.__and__, numbers)
    return map(add, repeat(2), map(bisect_right, repeat(_VARINT_LIMITS), unsigned))


# A varint of n bytes holds the values below 128**n.
_VARINT_LIMITS = [128**n for n in range(1, 10)]
_U64 = 2**64 - 1
_BYTE_SIZE = methodcaller("ByteSize")
_VALUE_TAGS = frozenset({*otlp_views.VALUE_TAGS, 0})
