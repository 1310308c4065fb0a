"""Malformed input: the decoder and the receiver fail politely, whatever they are sent.

In process, `decode_traces` may raise `DecodeError`, or return spans counted as accepted or
rejected, and nothing else; what it accepts must be storable (a span that fails the insert
would fail the group commit of every request sharing it). `gunzip` refuses bombs and
truncated streams. Against the running server, any body gives 200, 400, 413 or 415, never a
5xx, and the service stays healthy.

Hypothesis runs derandomized, so a run is repeatable; `max_examples` keeps the file short.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import zlib
from collections.abc import Iterator
from typing import Any

import duckdb
import httpx
import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector.ingest.traces.decode import (
    JSON,
    PROTOBUF,
    BodyTooLarge,
    DecodedSpans,
    DecodeError,
    gunzip,
)
from collector.ingest.traces.decode import decode_traces as _decode_traces
from sample_data.harness import otlp
from sample_data.harness.server import ServerProcess
from tests.support.fuzzing import (
    EDGE_TIMES,
    FLOATS,
    FUZZ,
    NORMALIZER,
    U64,
    field,
    scalar_values,
    warehouse_cursor,
)
from warehouse.spans.insert import insert_spans


def decode_traces(body: bytes, content_type: str) -> DecodedSpans | None:
    """The decoder under its contract: DecodeError (None here) or a consistent result."""
    try:
        decoded = _decode_traces(body, content_type, NORMALIZER)
    except DecodeError:
        return None
    assert decoded.table.num_rows == decoded.accepted
    assert decoded.accepted >= 0 and decoded.rejected >= 0
    assert (decoded.rejected == 0) == (decoded.rejection_message == "")
    return decoded


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    with warehouse_cursor(tmp_path_factory.mktemp("malformed")) as cursor:
        yield cursor


def assert_storable(cursor: duckdb.DuckDBPyConnection, decoded: DecodedSpans | None) -> None:
    """What the decoder accepted goes into the spans table (then rolled back)."""
    if decoded is None or not decoded.accepted:
        return
    cursor.begin()
    try:
        inserted = insert_spans(cursor, decoded.table, 1, dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        assert 1 <= inserted <= decoded.accepted
    finally:
        cursor.rollback()


# --- strategies ----------------------------------------------------------------------------

keys = st.text(max_size=12) | st.sampled_from(
    [
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.cost",
        "gen_ai.request.model",
        "gen_ai.operation.name",
        "session.id",
        "spendscope.feature",
        "langfuse.observation.usage_details",
        "gen_ai.aggregated_usage.input_tokens",
    ]
)
# Attribute integers span what OTLP's int64 (and orjson's u64) can carry; beyond that is
# covered by test_json_integers_beyond_64_bits_are_rejected.
ints = st.integers(-(2**63), U64) | st.sampled_from([0, -1, 2**63 - 1, U64])
texts = st.text(max_size=20) | st.sampled_from(["", "\x00", "\ud7ff", "\U0010ffff", "NaN", "1e999"])


def proto_values(depth: int = 24) -> st.SearchStrategy[AnyValue]:
    scalar = scalar_values(texts)

    def nest(children: st.SearchStrategy[AnyValue]) -> st.SearchStrategy[AnyValue]:
        arrays = st.lists(children, max_size=3).map(
            lambda vs: AnyValue(array_value=ArrayValue(values=vs))
        )
        kvlists = st.lists(st.tuples(keys, children), max_size=3).map(
            lambda kvs: AnyValue(
                kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in kvs])
            )
        )
        return arrays | kvlists

    return st.recursive(scalar, nest, max_leaves=depth)


def deep_proto_value(depth: int) -> AnyValue:
    value = AnyValue(string_value="bottom")
    for _ in range(depth):
        value = AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="k", value=value)]))
    return value


id_bytes = st.sampled_from([0, 1, 7, 8, 9, 15, 16, 17, 32]).flatmap(
    lambda n: st.binary(min_size=n, max_size=n)
)


@st.composite
def proto_spans(draw: st.DrawFn) -> Span:
    """Half well-formed spans with fuzzed attributes, half anything the wire format allows."""
    attributes = draw(st.lists(st.tuples(keys, proto_values()), max_size=5))
    if draw(st.integers(0, 9)) == 0:
        attributes.append(("deep", deep_proto_value(draw(st.integers(10, 30)))))
    span = Span(
        trace_id=otlp.trace_id(draw(st.integers(1, 3))),
        span_id=otlp.span_id(draw(st.integers(1, 50))),
        parent_span_id=draw(st.just(b"") | st.integers(1, 50).map(otlp.span_id)),
        name=draw(texts),
        kind=draw(st.integers(0, 5)),  # type: ignore[arg-type]
        start_time_unix_nano=otlp.BASE_NS,
        end_time_unix_nano=otlp.BASE_NS + draw(st.integers(-(10**9), 10**12)),
        attributes=[KeyValue(key=k, value=v) for k, v in attributes],
        events=[
            Span.Event(name=name, time_unix_nano=time)
            for name, time in draw(st.lists(st.tuples(texts, st.integers(0, U64)), max_size=2))
        ],
        links=[
            Span.Link(trace_id=t, span_id=s)
            for t, s in draw(st.lists(st.tuples(id_bytes, id_bytes), max_size=2))
        ],
        status=Status(code=draw(st.integers(0, 2)), message=draw(texts)),  # type: ignore[arg-type]
    )
    if draw(st.booleans()):
        span.trace_id = draw(id_bytes)
        span.span_id = draw(id_bytes)
        span.parent_span_id = draw(id_bytes | st.just(b""))
        span.kind = draw(st.integers(-(2**31), 2**31 - 1))  # type: ignore[assignment]
        span.start_time_unix_nano = draw(st.sampled_from(EDGE_TIMES) | st.integers(0, U64))
        span.end_time_unix_nano = draw(st.sampled_from(EDGE_TIMES) | st.integers(0, U64))
        span.status.code = draw(st.integers(-5, 5))  # type: ignore[assignment]
    return span


proto_exports = st.lists(proto_spans(), min_size=1, max_size=4).map(
    lambda spans: otlp.request(spans).SerializeToString()
)

json_scalars = st.one_of(st.none(), st.booleans(), ints, FLOATS.filter(math.isfinite), texts)


def json_values(depth: int = 12) -> st.SearchStrategy[Any]:
    """OTLP/JSON AnyValue objects, well and badly formed."""
    scalar = st.one_of(
        texts.map(lambda v: {"stringValue": v}),
        (ints | ints.map(str) | texts).map(lambda v: {"intValue": v}),
        (FLOATS.filter(math.isfinite) | texts).map(lambda v: {"doubleValue": v}),
        json_scalars.map(lambda v: {"boolValue": v}),
        (texts | st.just("aGVsbG8=")).map(lambda v: {"bytesValue": v}),
        json_scalars,
        st.just({}),
    )

    def nest(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.lists(children, max_size=3).map(
            lambda vs: {"arrayValue": {"values": vs}}
        ) | st.lists(st.fixed_dictionaries({"key": keys, "value": children}), max_size=3).map(
            lambda kvs: {"kvlistValue": {"values": kvs}}
        )

    return st.recursive(scalar, nest, max_leaves=depth)


hex_ids = st.sampled_from([0, 2, 15, 16, 17, 31, 32, 33]).flatmap(
    lambda n: st.text("0123456789abcdefABCDEF", min_size=n, max_size=n)
) | st.sampled_from(["0" * 32, "0" * 16, "zz" * 8, "00 11 22 33 44 55 66 77", 7, None])
json_ints: st.SearchStrategy[Any] = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(EDGE_TIMES).map(str),
    st.sampled_from([1.5, 1e300, -0.0, True, "", "1e3", "0x10", None, [], {}]),
)


@st.composite
def json_spans(draw: st.DrawFn) -> Any:
    span: dict[str, Any] = {
        "traceId": draw(hex_ids | st.just("0" * 31 + "1")),
        "spanId": draw(hex_ids | st.integers(1, 50).map(lambda n: f"{n:016x}")),
        "parentSpanId": draw(hex_ids),
        "name": draw(texts | json_scalars),
        "kind": draw(json_ints | st.integers(0, 5)),
        "startTimeUnixNano": draw(json_ints | st.just(str(otlp.BASE_NS))),
        "endTimeUnixNano": draw(json_ints | st.just(str(otlp.BASE_NS + 1))),
        "attributes": draw(
            st.lists(st.fixed_dictionaries({"key": keys, "value": json_values()}), max_size=5)
            | json_scalars
        ),
        "status": draw(st.fixed_dictionaries({"code": json_ints, "message": texts}) | json_scalars),
    }
    if draw(st.booleans()):
        span["events"] = [{"name": draw(texts), "timeUnixNano": draw(st.integers(0, U64))}]
        span["links"] = [{"traceId": draw(hex_ids), "spanId": draw(hex_ids)}]
    if draw(st.booleans()):  # snake_case keys are accepted too
        span = {"trace_id" if k == "traceId" else k: v for k, v in span.items()}
    drop = draw(st.sets(st.sampled_from(sorted(span))))
    return {k: v for k, v in span.items() if k not in drop} | (
        {"junk": draw(json_scalars)} if draw(st.booleans()) else {}
    )


def json_body(document: Any) -> bytes:
    """Serialized with the standard library, which (unlike orjson) writes any integer."""
    return json.dumps(document, ensure_ascii=False).encode()


json_exports = st.lists(json_spans() | json_scalars, min_size=1, max_size=4).map(
    lambda spans: json_body(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "f"}}]
                    },
                    "scopeSpans": [{"scope": {"name": "fuzz"}, "spans": spans}],
                }
            ]
        }
    )
)


def valid_export(spans: int) -> ExportTraceServiceRequest:
    return otlp.request(
        [
            otlp.span(1, 1, attributes={"spendscope.feature": "f", "session.id": "s"}),
            *(otlp.span(1, n, 1, attributes=otlp.MODEL_CALL) for n in range(2, spans + 1)),
        ]
    )


VALID = {PROTOBUF: valid_export(4).SerializeToString(), JSON: otlp.to_json(valid_export(4))}


@st.composite
def mutated(draw: st.DrawFn, body: bytes) -> bytes:
    """A valid body with bytes flipped, inserted or deleted."""
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "set"]))
        if action == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 4))]
        else:
            data[position] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xC0, 0xFF, ord('"')]))
        if not data:
            break
    return bytes(data)


def bodies(content_type: str) -> st.SearchStrategy[bytes]:
    valid = VALID[content_type]
    return st.one_of(
        st.binary(max_size=300),
        st.integers(0, len(valid)).map(lambda n: valid[:n]),
        mutated(valid),
        proto_exports if content_type == PROTOBUF else json_exports,
    )


# --- the decoder in process -----------------------------------------------------------------


@FUZZ
@given(body=bodies(PROTOBUF))
def test_protobuf_bodies_decode_or_fail_politely(
    body: bytes, warehouse: duckdb.DuckDBPyConnection
) -> None:
    assert_storable(warehouse, decode_traces(body, PROTOBUF))


@FUZZ
@given(body=bodies(JSON))
def test_json_bodies_decode_or_fail_politely(
    body: bytes, warehouse: duckdb.DuckDBPyConnection
) -> None:
    assert_storable(warehouse, decode_traces(body, JSON))


@FUZZ
@given(spans=st.lists(proto_spans(), min_size=1, max_size=4))
def test_every_protobuf_span_is_accepted_or_counted_rejected(
    spans: list[Span], warehouse: duckdb.DuckDBPyConnection
) -> None:
    decoded = decode_traces(otlp.request(spans).SerializeToString(), PROTOBUF)
    if decoded is not None:  # upb refuses nesting past its recursion limit
        assert decoded.accepted + decoded.rejected == len(spans)
        assert_storable(warehouse, decoded)


@FUZZ
@given(spans=st.lists(json_spans(), min_size=1, max_size=4))
def test_every_json_span_is_accepted_or_counted_rejected(spans: list[Any]) -> None:
    body = json_body({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
    decoded = decode_traces(body, JSON)
    assert decoded is not None
    assert decoded.accepted + decoded.rejected == len(spans)


@FUZZ
@given(spans=st.lists(proto_spans(), min_size=1, max_size=4))
def test_protobuf_and_json_encodings_decode_to_the_same_rows(spans: list[Span]) -> None:
    """The two decoders are separate code: the same export must give the same columns."""
    export = otlp.request(spans)
    from_protobuf = decode_traces(export.SerializeToString(), PROTOBUF)
    assume(from_protobuf is not None)  # upb's nesting limit has no JSON counterpart
    assert from_protobuf is not None
    from_json = decode_traces(otlp.to_json(export), JSON)
    assert from_json is not None
    assert (from_json.accepted, from_json.rejected) == (
        from_protobuf.accepted,
        from_protobuf.rejected,
    )
    assert from_json.table.schema.equals(from_protobuf.table.schema)
    assert same_rows(from_json.table.to_pylist(), from_protobuf.table.to_pylist())


def test_empty_attribute_key_in_json() -> None:
    export = otlp.request([otlp.span(1, 1, attributes={"": "value"})])
    body = otlp.to_json(export)
    assert b'"key"' not in body.split(b'"attributes"')[-1]
    decoded = decode_traces(body, JSON)
    assert decoded is not None and (decoded.accepted, decoded.rejected) == (1, 0)


def test_empty_event_name_in_json() -> None:
    span = otlp.span(1, 1)
    span.events.add(time_unix_nano=otlp.BASE_NS)
    export = otlp.request([span])
    from_protobuf = decode_traces(export.SerializeToString(), PROTOBUF)
    from_json = decode_traces(otlp.to_json(export), JSON)
    assert from_protobuf is not None and from_json is not None
    assert (
        from_json.table.column("events").to_pylist()
        == from_protobuf.table.column("events").to_pylist()
    )


def test_link_ids_are_checked_alike() -> None:
    span = otlp.span(1, 1)
    span.links.add(trace_id=otlp.trace_id(2), span_id=b"\x01")
    export = otlp.request([span])
    from_protobuf = decode_traces(export.SerializeToString(), PROTOBUF)
    from_json = decode_traces(otlp.to_json(export), JSON)
    assert from_protobuf is not None and from_json is not None
    counts = (from_protobuf.accepted, from_protobuf.rejected)
    assert (from_json.accepted, from_json.rejected) == counts


def same_rows(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> bool:
    """Equal, counting NaN equal to NaN (both become null)."""
    return orjson.dumps(left, default=bytes.hex) == orjson.dumps(right, default=bytes.hex)


def test_edge_values_are_rejected_one_span_at_a_time() -> None:
    good = otlp.span(1, 1, attributes=otlp.MODEL_CALL)
    bad = [
        otlp.span(1, 2, start_offset_ms=0),
        Span(trace_id=b"\x01" * 15, span_id=otlp.span_id(3), start_time_unix_nano=1),
        Span(trace_id=otlp.trace_id(1), span_id=b"\x01" * 9, start_time_unix_nano=1),
        Span(trace_id=b"\x00" * 16, span_id=otlp.span_id(4), start_time_unix_nano=1),
        Span(trace_id=otlp.trace_id(1), span_id=otlp.span_id(5), start_time_unix_nano=0),
        Span(trace_id=otlp.trace_id(1), span_id=otlp.span_id(6), start_time_unix_nano=U64),
        Span(
            trace_id=otlp.trace_id(1),
            span_id=otlp.span_id(7),
            start_time_unix_nano=1,
            attributes=[KeyValue(key="deep", value=deep_proto_value(20))],
        ),
        Span(
            trace_id=otlp.trace_id(1),
            span_id=otlp.span_id(8),
            start_time_unix_nano=1,
            attributes=otlp.key_values({"gen_ai.usage.input_tokens": 2**62}),
        ),
        Span(
            trace_id=otlp.trace_id(1),
            span_id=otlp.span_id(9),
            start_time_unix_nano=1,
            attributes=otlp.key_values({"gen_ai.usage.cost": math.nan}),
        ),
    ]
    bad[0].parent_span_id = b"\x01" * 4
    for content_type, body in (
        (PROTOBUF, otlp.request([good, *bad]).SerializeToString()),
        (JSON, otlp.to_json(otlp.request([good, *bad]))),
    ):
        decoded = decode_traces(body, content_type)
        assert decoded is not None
        assert (decoded.accepted, decoded.rejected) == (1, len(bad)), content_type


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe{}",
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "\xc3\x28"}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "\\ud800"}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": NaN}]}]}]}',
        b'{"resourceSpans": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"resourceSpans": {}}',
        b"[]",
        b"",
    ],
    ids=[
        "bom",
        "invalid-utf8",
        "lone-surrogate",
        "nan",
        "deep-arrays",
        "object",
        "array",
        "empty",
    ],
)
def test_undecodable_json_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(DecodeError):
        _decode_traces(body, JSON, NORMALIZER)


def test_invalid_utf8_and_deep_nesting_in_protobuf_are_decode_errors() -> None:
    valid = otlp.request([otlp.span(1, 1, name="ok")]).SerializeToString()
    assert b"ok" in valid
    with pytest.raises(DecodeError):
        _decode_traces(valid.replace(b"ok", b"\xc3\x28"), PROTOBUF, NORMALIZER)
    # Nesting past upb's recursion limit, written by hand (upb will not build it).
    value = AnyValue(string_value="bottom").SerializeToString()
    for _ in range(200):
        value = field(6, field(1, field(1, b"k") + field(2, value)))  # kvlist of one pair
    span = otlp.span(1, 1).SerializeToString() + field(9, field(1, b"deep") + field(2, value))
    body = field(1, field(2, field(2, span)))  # resource_spans / scope_spans / spans
    with pytest.raises(DecodeError):
        _decode_traces(body, PROTOBUF, NORMALIZER)


@pytest.mark.parametrize(
    "span",
    [
        {"attributes": [{"key": "k", "value": {"intValue": str(2**64)}}]},
        {"attributes": [{"key": "k", "value": {"intValue": str(-(2**63) - 1)}}]},
        {"events": [{"name": "e", "timeUnixNano": str(2**70)}]},
    ],
    ids=["int-above-u64", "int-below-i64", "event-time"],
)
def test_json_integers_beyond_64_bits_are_rejected(span: dict[str, Any]) -> None:
    span = {
        "traceId": "0" * 31 + "1",
        "spanId": "0" * 15 + "1",
        "startTimeUnixNano": "1",
        **span,
    }
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
    decoded = _decode_traces(body, JSON, NORMALIZER)
    assert (decoded.accepted, decoded.rejected) == (0, 1)


# --- gunzip ------------------------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=2000), limit=st.integers(0, 2500))
def test_gunzip_round_trips_within_the_limit(data: bytes, limit: int) -> None:
    compressed = gzip.compress(data)
    if len(data) <= limit:
        assert gunzip(compressed, limit) == data
    else:
        with pytest.raises(BodyTooLarge):
            gunzip(compressed, limit)


@FUZZ
@given(data=st.binary(min_size=1, max_size=2000), cut=st.integers(0, 10_000))
def test_gunzip_refuses_truncated_streams(data: bytes, cut: int) -> None:
    compressed = gzip.compress(data)
    truncated = compressed[: cut % len(compressed)]
    with pytest.raises(DecodeError):
        gunzip(truncated, 10_000)


@FUZZ
@given(body=st.binary(max_size=500))
def test_gunzip_of_garbage_is_a_decode_error_or_a_value(body: bytes) -> None:
    try:
        out = gunzip(body, 1000)
    except (DecodeError, BodyTooLarge):
        return
    assert len(out) <= 1000


@pytest.mark.parametrize("size", [10 * 1024 * 1024, 200 * 1024 * 1024])
def test_gunzip_stops_a_bomb_at_the_limit(size: int) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1024 * 1024)
    bomb = b"".join(compressor.compress(chunk) for _ in range(size // len(chunk)))
    bomb += compressor.flush()
    assert len(bomb) < size / 500
    with pytest.raises(BodyTooLarge):
        gunzip(bomb, 1024 * 1024)


@pytest.mark.parametrize("tail", [gzip.compress(b"world"), b"garbage"], ids=["member", "garbage"])
def test_gunzip_does_not_drop_what_follows_the_first_member(tail: bytes) -> None:
    body = gzip.compress(b"hello ") + tail
    try:
        out = gunzip(body, 1000)
    except DecodeError:
        return  # refusing the body is fine; silently truncating it is not
    assert out == gzip.decompress(body)


# --- the running server ------------------------------------------------------------------------

MAX_BODY = 4096


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("malformed-server"),
        env={"SPENDSCOPE_MAX_BODY_BYTES": str(MAX_BODY)},
    ).start()
    yield process
    process.kill()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as http:
        yield http


content_types = st.sampled_from(
    [PROTOBUF, JSON, f"{JSON}; charset=utf-8", "APPLICATION/X-PROTOBUF", "text/plain", ""]
)
encodings = st.sampled_from(["", "identity", "gzip", "gzip", "deflate", "br, gzip"])


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    content_type = draw(content_types)
    family = JSON if "json" in content_type else PROTOBUF
    body = draw(
        bodies(family)
        | st.just(VALID[family] * 100)  # past the body limit
        | st.binary(max_size=50).map(lambda b: b * 200)
    )
    headers = {"content-type": content_type} if content_type else {}
    encoding = draw(encodings)
    if encoding:
        headers["content-encoding"] = encoding
    if encoding == "gzip" and draw(st.booleans()):
        body = gzip.compress(body)
        if draw(st.booleans()):
            body = body[: draw(st.integers(0, len(body)))]
    return body, headers


@settings(FUZZ, max_examples=300)
@given(request=requests())
def test_server_answers_malformed_requests_without_a_5xx(
    request: tuple[bytes, dict[str, str]], server: ServerProcess, client: httpx.Client
) -> None:
    body, headers = request
    response = client.post(f"{server.http_url}/v1/traces", content=body, headers=headers)
    assert response.status_code in (200, 400, 413, 415), (response.status_code, response.text)


def test_server_is_healthy_after_the_fuzzing(server: ServerProcess, client: httpx.Client) -> None:
    assert client.get(f"{server.http_url}/healthz").status_code == 200
    ready = client.get(f"{server.http_url}/readyz")
    assert ready.status_code == 200, ready.text
    # And it still stores a well-formed export.
    response = client.post(
        f"{server.http_url}/v1/traces",
        content=otlp.request([otlp.span(7, 1, attributes=otlp.MODEL_CALL)]).SerializeToString(),
        headers={"content-type": PROTOBUF},
    )
    assert response.status_code == 200
    assert "Traceback" not in server.log_path.read_text(errors="replace")
    server.kill()
    with duckdb.connect(str(server.database_path), read_only=True) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM spans WHERE trace_id = ?", [otlp.trace_id(7)]
        ).fetchone()
    assert stored == (1,)


def test_the_valid_seeds_decode_cleanly() -> None:
    for content_type, body in VALID.items():
        decoded = decode_traces(body, content_type)
        assert decoded is not None and (decoded.accepted, decoded.rejected) == (4, 0)
