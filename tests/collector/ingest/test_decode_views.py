"""The bulk protobuf decoder (collector.ingest.traces.otlp_views) gives exactly what the reference
decoder (the generated OTLP classes, one attribute at a time) gives, for any body: the same
rows and rejections, or the same DecodeError. Bodies include lengths that lie (a KeyValue's
key or value, or an AnyValue's string, claiming bytes of the next attribute), which the
bulk parses of concatenated attributes must not accept where the reference fails."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.ingest.columns import SpanColumns
from collector.ingest.normalize import Normalizer
from collector.ingest.traces import decode
from collector.ingest.traces.decode import decode_traces
from sample_data.harness.payloads import make_template
from tests.support.fuzzing import field

NORMALIZER = Normalizer()
KEYS = [
    "gen_ai.usage.input_tokens",
    "gen_ai.request.model",
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "session.id",
    "spendscope.feature",
    "x" * 130,  # a key longer than one varint byte
    "clé.unicode",
    "",
]


def _reference(body: bytes) -> tuple[pa.Table, int, list[str]]:
    columns = SpanColumns(NORMALIZER)
    decode._add_protobuf_generic(body, columns)
    return columns.to_arrow(), columns.rejected, columns.messages


def _fast(body: bytes) -> tuple[pa.Table, int, list[str]]:
    columns = SpanColumns(NORMALIZER)
    decode._add_protobuf(body, columns)
    return columns.to_arrow(), columns.rejected, columns.messages


def _assert_same(body: bytes) -> None:
    try:
        expected = _reference(body)
    except decode.DecodeError:
        with pytest.raises(decode.DecodeError):
            _fast(body)
        return
    got = _fast(body)
    assert got[0].equals(expected[0])
    assert got[1:] == expected[1:]


scalars = st.one_of(
    st.builds(lambda v: AnyValue(string_value=v), st.text(max_size=200)),
    st.builds(lambda v: AnyValue(int_value=v), st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda v: AnyValue(double_value=v), st.floats(allow_nan=False)),
    st.builds(lambda v: AnyValue(bool_value=v), st.booleans()),
    st.builds(lambda v: AnyValue(bytes_value=v), st.binary(max_size=20)),
    st.just(AnyValue()),
)


def _array(values: list[AnyValue]) -> AnyValue:
    value = AnyValue()
    value.array_value.values.extend(values)
    return value


def _kvlist(items: list[tuple[str, AnyValue]]) -> AnyValue:
    value = AnyValue()
    value.kvlist_value.values.extend(KeyValue(key=k, value=v) for k, v in items)
    return value


values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.builds(_array, st.lists(inner, max_size=3)),
        st.builds(_kvlist, st.lists(st.tuples(st.sampled_from(KEYS), inner), max_size=3)),
    ),
    max_leaves=6,
)
attributes = st.lists(st.tuples(st.sampled_from(KEYS), values), max_size=8)


@st.composite
def requests(draw: Any) -> bytes:
    request = ExportTraceServiceRequest()
    for r in range(draw(st.integers(1, 2))):
        resource_spans = request.resource_spans.add()
        for key, value in draw(attributes):
            resource_spans.resource.attributes.add(key=key, value=value)
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = draw(st.sampled_from(["", "scope"]))
        for n in range(draw(st.integers(0, 4))):
            span = scope_spans.spans.add()
            span.trace_id = bytes([r + 1]) * 16
            span.span_id = bytes([n + 1]) * 8
            span.name = draw(st.sampled_from(["chat gpt-4o", "ai.generateText", "x"]))
            span.start_time_unix_nano = 1_700_000_000_000_000_000 + n
            span.end_time_unix_nano = span.start_time_unix_nano + draw(st.integers(0, 10**9))
            span.kind = draw(st.integers(0, 5))  # type: ignore[assignment]
            for key, value in draw(attributes):
                span.attributes.add(key=key, value=value)
            if draw(st.booleans()):
                event = span.events.add(name="e", time_unix_nano=5)
                for key, value in draw(attributes):
                    event.attributes.add(key=key, value=value)
    return request.SerializeToString()


@settings(max_examples=300, deadline=None)
@given(requests())
def test_bulk_decoder_matches_the_reference(body: bytes) -> None:
    _assert_same(body)


def test_realistic_bodies_take_the_bulk_path() -> None:
    body = make_template(200, 3, json=False).body
    request = decode.otlp_views.Request.FromString(body)
    assert decode._add_protobuf_view(request, SpanColumns(NORMALIZER))
    _assert_same(body)


def _span_with_raw_attributes(raw_key_values: list[bytes], trace: int = 1) -> bytes:
    """A body whose one span has hand-encoded KeyValue contents (field 9)."""
    span = Span(
        trace_id=bytes([trace]) * 16, span_id=b"\x02" * 8, name="s", start_time_unix_nano=10**18
    )
    # The span re-encoded with the hand-made attribute fields appended.
    span_bytes = span.SerializeToString() + b"".join(field(9, kv) for kv in raw_key_values)
    return field(1, field(2, field(2, span_bytes)))


def test_oddly_encoded_key_values_fall_back_to_the_reference() -> None:
    a = b"\x0a\x01a"
    value_1 = b"\x12\x03\x0a\x01x"
    value_2 = b"\x12\x03\x0a\x01y"
    b = b"\x0a\x01b"
    cases = [
        [a + value_1 + value_2, b],  # a value repeated in one KeyValue, none in the next
        [value_1 + a, b + value_2],  # value before key
        [a + value_1 + b"\x18\x07", b + value_2],  # key_strindex (unknown to the view)
        [a + b"\x12\x02\x40\x01", b + value_2],  # string_value_strindex
        [a + b"\x12\x05\x0a\x01x\x18\x05", b + value_2],  # two fields in one AnyValue
        [a, b + value_2],  # a KeyValue without a value
    ]
    for raw in cases:
        body = _span_with_raw_attributes(raw)
        request = decode.otlp_views.Request.FromString(body)
        assert not decode._add_protobuf_view(request, SpanColumns(NORMALIZER)), raw
        _assert_same(body)


# --- lengths that lie ------------------------------------------------------------------------
# The bulk parses read every attribute of a request as one concatenation, so a length that
# runs past its own KeyValue or AnyValue reads the next attribute's bytes; the reference
# parser reads each KeyValue on its own and fails. Each construction below is one the bulk
# decoder once accepted (storing, say, a tenant taken from the next attribute).


def _value_swallowing_next(key_1: str, key_2: str, text: str, stolen: AnyValue) -> list[bytes]:
    """Attribute 1's string claims the first field of attribute 2's value (`stolen`), and
    attribute 2 holds that field then a string of its own, so the counts add up."""
    stolen_field = stolen.SerializeToString()
    own = AnyValue(string_value="globex").SerializeToString()
    payload = text.encode()
    value_1 = field(1, payload, claimed=len(payload) + len(stolen_field))
    return [
        field(1, key_1.encode()) + field(2, value_1),
        field(1, key_2.encode()) + field(2, stolen_field + own),
    ]


def _key_swallowing_next(key_1: str, key_2: str, stolen_key: str, text: str) -> list[bytes]:
    """KeyValue 1 holds a key and a second key field that claims KeyValue 2's first field (a
    whole key); KeyValue 2 then holds two values: sizes that add up pair by pair."""
    stolen = field(1, stolen_key.encode())
    value_x = AnyValue(string_value=text).SerializeToString()
    second = key_2.encode()[: len(value_x)].ljust(len(value_x), b"k")
    value_z = AnyValue(string_value="globex").SerializeToString()
    return [
        field(1, key_1.encode()) + field(1, second, claimed=len(second) + len(stolen)),
        stolen + field(2, value_x) + field(2, value_z),
    ]


@st.composite
def lying_bodies(draw: Any) -> bytes:
    keys = st.sampled_from(["spendscope.feature", "spendscope.tenant", "session.id", "k"])
    text = draw(st.text(st.characters(max_codepoint=126), max_size=20))
    if draw(st.booleans()):
        stolen = draw(scalars.filter(lambda v: v.WhichOneof("value") is not None))
        raw = _value_swallowing_next(draw(keys), draw(keys), text, stolen)
    else:
        raw = _key_swallowing_next(draw(keys), draw(keys), draw(keys), text)
    good = [KeyValue(key=k, value=v).SerializeToString() for k, v in draw(attributes)]
    at = draw(st.integers(0, len(good)))
    raw = good[:at] + raw + good[at:]
    if draw(st.booleans()):  # or shift one length prefix of an honest attribute
        index = draw(st.integers(0, len(raw) - 1))
        delta = draw(st.sampled_from([-2, -1, 1, 2]))
        kv = raw[index]
        raw[index] = kv[:1] + bytes([max(0, min(127, kv[1] + delta))]) + kv[2:]
    return _span_with_raw_attributes(raw)


@settings(max_examples=300, deadline=None)
@given(lying_bodies())
def test_lengths_that_lie_are_refused_like_the_reference_refuses_them(body: bytes) -> None:
    _assert_same(body)


@pytest.mark.parametrize(
    "raw",
    [
        _value_swallowing_next(
            "spendscope.feature", "spendscope.tenant", "ab", AnyValue(string_value="g")
        ),
        _key_swallowing_next("spendscope.feature", "spendscope.tenant", "d", "xy"),
    ],
    ids=["anyvalue", "keyvalue"],
)
def test_a_value_running_into_the_next_attribute_is_a_decode_error(raw: list[bytes]) -> None:
    body = _span_with_raw_attributes(raw)
    with pytest.raises(decode.DecodeError):
        decode_traces(body, decode.PROTOBUF, NORMALIZER)
