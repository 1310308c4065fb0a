"""One poisoned item loses only itself, never its request (docs/reliability.md, "Bad input").

Whatever one span, outcome log record or data point holds (a Langfuse `cost_details` whose
sum overflows `decimal`, JSON nested a thousand levels deep where a string, a number or an
event name belongs), the receivers answer 200 with partial success naming it, or 400 when
nothing in the request can be stored or the body cannot be decoded at all: never a 5xx,
never gRPC UNKNOWN or INTERNAL (neither is retried, so the exporter would drop its whole
batch), and the good items of the same request are stored.

The named cases run first, each next to a good span; then a property test sends generated
bodies of the three signals, poison mixed in, over OTLP/HTTP (protobuf and JSON) and gRPC.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.ingest.logs.decode import decode_logs
from collector.ingest.metrics.decode import MetricRules, decode_metrics
from collector.ingest.traces.decode import JSON, PROTOBUF, DecodeError, decode_traces
from sample_data.harness import otlp
from sample_data.harness.server import ServerProcess
from tests.support import fuzzing
from tests.support.fuzzing import NORMALIZER

FUZZ = settings(fuzzing.FUZZ, max_examples=120)
METHODS = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}
HTTP_ANSWERS = (200, 400, 413, 415)
GRPC_ANSWERS = (
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
)
# JSON poison: nested about a thousand levels, under orjson's 1,024 with the envelope.
DEEP_LIST = "[" * 990 + "]" * 990
DEEP_OBJECT = '{"a":' * 990 + "1" + "}" * 990
# Langfuse cost and usage details whose arithmetic leaves `decimal`'s range.
HUGE_COSTS = [
    '{"a": "1e1000000"}',
    '{"a": "1e1000000", "b": "1e1000000"}',
    '{"a": "-1e1000000", "b": "1"}',
    '{"a": "1e-1000000", "b": "1e999999"}',
    '{"a": 1e308, "b": 1e308}',
    '{"total": "1e1000000"}',
    '{"a": "' + "9" * 5000 + '"}',
]


# --- bodies ------------------------------------------------------------------------------------


def good_span(number: int, trace: int = 1) -> dict[str, Any]:
    return {
        "traceId": otlp.trace_id(trace).hex(),
        "spanId": otlp.span_id(number).hex(),
        "name": "chat gpt-4o",
        "startTimeUnixNano": str(otlp.BASE_NS),
        "endTimeUnixNano": str(otlp.BASE_NS + 10**9),
        "attributes": [
            {"key": key, "value": {"stringValue" if isinstance(v, str) else "intValue": v}}
            for key, v in otlp.MODEL_CALL.items()
        ],
    }


def with_poison(document: Any, poison: str) -> bytes:
    """`document` as JSON text, its string "POISON" replaced by the raw JSON `poison`."""
    return json.dumps(document).replace('"POISON"', poison, 1).encode()


def traces_json(spans: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "s"}, "spans": spans}]}]}


def poisoned_span(number: int, place: str, trace: int = 1) -> dict[str, Any]:
    """A span with "POISON" at `place`."""
    span = good_span(number, trace)
    if place.startswith("attribute."):
        span["attributes"].append({"key": "k", "value": {place.split(".", 1)[1]: "POISON"}})
    elif place == "key":
        span["attributes"].append({"key": "POISON", "value": {"stringValue": "v"}})
    elif place == "status":
        span["status"] = {"code": 2, "message": "POISON"}
    elif place.startswith("event."):
        event: dict[str, Any] = {"name": "e", "timeUnixNano": "1"}
        event[place.split(".", 1)[1]] = "POISON"
        span["events"] = [event]
    elif place.startswith("link."):
        span["links"] = [{"traceId": "00" * 16, "spanId": "01" * 8, place[5:]: "POISON"}]
    else:
        span[place] = "POISON"
    return span


SPAN_PLACES = [
    "attribute.stringValue",
    "attribute.intValue",
    "attribute.doubleValue",
    "attribute.boolValue",
    "attribute.bytesValue",
    "key",
    "name",
    "status",
    "kind",
    "startTimeUnixNano",
    "event.name",
    "event.timeUnixNano",
    "link.traceId",
    "link.spanId",
]


def cost_span(number: int, details: str, trace: int = 1) -> Any:
    """A Langfuse generation span whose `cost_details` is `details`."""
    return otlp.span(
        trace,
        number,
        name="generation",
        attributes={
            **otlp.MODEL_CALL,
            "langfuse.observation.type": "generation",
            "langfuse.observation.cost_details": details,
            "langfuse.observation.usage_details": details.replace('"total"', '"input"'),
        },
    )


def log_record(event_name: Any = "spendscope.outcome", value: Any = "ticket_resolved") -> Any:
    return {
        "eventName": event_name,
        "timeUnixNano": str(otlp.BASE_NS),
        "attributes": [
            {"key": "spendscope.outcome.name", "value": {"stringValue": value}},
            {"key": "session.id", "value": {"stringValue": "s-poison"}},
        ],
    }


def logs_json(records: list[Any]) -> dict[str, Any]:
    return {"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]}


# --- the server ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def channel(shared_server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(shared_server.grpc_endpoint) as opened:
        yield opened


def post(server: ServerProcess, signal: str, body: bytes, content_type: str) -> Any:
    return server.client.post(
        f"{server.http_url}/v1/{signal}", content=body, headers={"content-type": content_type}
    )


def export_grpc(channel: grpc.Channel, signal: str, body: bytes) -> tuple[grpc.StatusCode, bytes]:
    call = channel.unary_unary(METHODS[signal])
    try:
        return grpc.StatusCode.OK, call(body, timeout=30)
    except grpc.RpcError as exc:
        return exc.code(), b""


def stored(server: ServerProcess, trace: int) -> int:
    """How many model calls of `trace` the API lists."""
    return len(server.get("/api/v1/spans", trace_id=otlp.trace_id(trace).hex()).json()["spans"])


# --- the named cases ---------------------------------------------------------------------------


@pytest.mark.parametrize("place", SPAN_PLACES)
@pytest.mark.parametrize("poison", [DEEP_LIST, DEEP_OBJECT], ids=["list", "object"])
def test_deep_json_in_one_span_rejects_that_span_only(
    shared_server: ServerProcess, place: str, poison: str
) -> None:
    trace = 0x501_000 + SPAN_PLACES.index(place) * 2 + (poison == DEEP_OBJECT)
    body = with_poison(traces_json([good_span(1, trace), poisoned_span(2, place, trace)]), poison)
    response = post(shared_server, "traces", body, JSON)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert stored(shared_server, trace) == 1


@pytest.mark.parametrize("details", HUGE_COSTS)
def test_costs_beyond_decimal_reject_that_span_only(
    shared_server: ServerProcess, channel: grpc.Channel, details: str
) -> None:
    for offset, transport in enumerate(("http", "grpc")):
        trace = 0x502_000 + HUGE_COSTS.index(details) * 2 + offset
        export = otlp.request([otlp.span(trace, 1, attributes=otlp.MODEL_CALL)])
        export.resource_spans[0].scope_spans[0].spans.append(cost_span(2, details, trace))
        body = export.SerializeToString()
        if transport == "http":
            response = post(shared_server, "traces", body, PROTOBUF)
            assert response.status_code == 200, response.text[:300]
            answer = ExportTraceServiceResponse.FromString(response.content)
        else:
            code, raw = export_grpc(channel, "traces", body)
            assert code == grpc.StatusCode.OK
            answer = ExportTraceServiceResponse.FromString(raw)
        assert answer.partial_success.rejected_spans == 1, (transport, answer)
        assert stored(shared_server, trace) == 1


@pytest.mark.parametrize("poison", [DEEP_LIST, DEEP_OBJECT], ids=["list", "object"])
@pytest.mark.parametrize("place", ["eventName", "stringValue"])
def test_deep_json_in_one_log_record_rejects_that_record_only(
    shared_server: ServerProcess, place: str, poison: str
) -> None:
    bad = log_record("POISON") if place == "eventName" else log_record(value="POISON")
    body = with_poison(logs_json([log_record(), bad]), poison)
    response = post(shared_server, "logs", body, JSON)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["partialSuccess"]["rejectedLogRecords"] == "1"


def test_cost_overflow_in_process_is_a_rejection_with_a_reason() -> None:
    export = otlp.request([otlp.span(1, 1), cost_span(2, HUGE_COSTS[1])])
    decoded = decode_traces(export.SerializeToString(), PROTOBUF, NORMALIZER)
    assert (decoded.accepted, decoded.rejected) == (1, 1)
    assert "cost_details" in decoded.rejection_message


# --- generated bodies ----------------------------------------------------------------------

poisons = st.sampled_from([DEEP_LIST, DEEP_OBJECT, '"1e1000000"', "1e400", "-0", '""', "null"])
cost_details = st.sampled_from(HUGE_COSTS) | st.dictionaries(
    st.sampled_from(["a", "b", "total", "input", "output", "cache_read"]),
    st.sampled_from(["1e1000000", "-1e1000000", "1e-1000000", "NaN", "sNaN", "Infinity", "1"])
    | st.floats(allow_nan=False)
    | st.integers(-(2**70), 2**70),
    max_size=4,
).map(json.dumps)


@st.composite
def trace_bodies(draw: st.DrawFn, trace: int) -> tuple[bytes, str]:
    content_type = draw(st.sampled_from([PROTOBUF, JSON]))
    if content_type == PROTOBUF:
        spans = [otlp.span(trace, 1, attributes=otlp.MODEL_CALL)]
        spans += [
            cost_span(n, draw(cost_details), trace) for n in range(2, draw(st.integers(2, 5)))
        ]
        return otlp.request(draw(st.permutations(spans))).SerializeToString(), PROTOBUF
    place = draw(st.sampled_from(SPAN_PLACES))
    spans = [good_span(1, trace), poisoned_span(2, place, trace)]
    return with_poison(traces_json(draw(st.permutations(spans))), draw(poisons)), JSON


@st.composite
def log_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    content_type = draw(st.sampled_from([PROTOBUF, JSON]))
    if content_type == PROTOBUF:
        export = ExportLogsServiceRequest()
        records = export.resource_logs.add().scope_logs.add().log_records
        for _ in range(draw(st.integers(1, 3))):
            record = records.add(event_name="spendscope.outcome", time_unix_nano=otlp.BASE_NS)
            record.attributes.extend(
                otlp.key_values(
                    {
                        "spendscope.outcome.name": "ticket_resolved",
                        "spendscope.outcome.count": draw(st.sampled_from(["1e1000000", "1", "-1"])),
                        "langfuse.observation.cost_details": draw(cost_details),
                    }
                )
            )
        return export.SerializeToString(), PROTOBUF
    bad = draw(st.sampled_from([log_record("POISON"), log_record(value="POISON")]))
    return with_poison(logs_json([log_record(), bad]), draw(poisons)), JSON


@st.composite
def metric_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    export = ExportMetricsServiceRequest()
    metric = (
        export.resource_metrics.add().scope_metrics.add().metrics.add(name="DCGM_FI_DEV_GPU_UTIL")
    )
    for n in range(draw(st.integers(1, 3))):
        point = metric.gauge.data_points.add(time_unix_nano=otlp.BASE_NS + n, as_double=42.0)
        point.attributes.extend(
            otlp.key_values({"UUID": "GPU-1", "modelName": draw(st.sampled_from(["x", "1e400"]))})
        )
    if draw(st.booleans()):
        return export.SerializeToString(), PROTOBUF
    document = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "DCGM_FI_DEV_GPU_UTIL",
                                "gauge": {
                                    "dataPoints": [
                                        {"timeUnixNano": str(otlp.BASE_NS), "asDouble": "POISON"}
                                    ]
                                },
                            }
                        ]
                    }
                ]
            }
        ]
    }
    return with_poison(document, draw(poisons)), JSON


@st.composite
def exports(draw: st.DrawFn) -> tuple[str, bytes, str, str]:
    signal = draw(st.sampled_from(["traces", "logs", "metrics"]))
    if signal == "traces":
        body, content_type = draw(trace_bodies(0x503_000 + draw(st.integers(0, 10**6))))
    elif signal == "logs":
        body, content_type = draw(log_bodies())
    else:
        body, content_type = draw(metric_bodies())
    transport = "http" if content_type == JSON else draw(st.sampled_from(["http", "grpc"]))
    return signal, body, content_type, transport


@FUZZ
@given(export=exports())
def test_no_body_gets_a_5xx_or_grpc_unknown(
    export: tuple[str, bytes, str, str], shared_server: ServerProcess, channel: grpc.Channel
) -> None:
    signal, body, content_type, transport = export
    if transport == "grpc":
        code, _ = export_grpc(channel, signal, body)
        assert code in GRPC_ANSWERS, (signal, code)
    else:
        response = post(shared_server, signal, body, content_type)
        assert response.status_code in HTTP_ANSWERS, (signal, response.text[:300])


@FUZZ
@given(export=exports())
def test_the_decoders_reject_items_not_requests(export: tuple[str, bytes, str, str]) -> None:
    """In process: only DecodeError leaves a decoder, and a request whose good item was
    decoded keeps it (accepted), whatever its neighbours hold."""
    signal, body, content_type, _ = export
    try:
        if signal == "traces":
            traces = decode_traces(body, content_type, NORMALIZER)
            assert traces.accepted >= 1, traces.rejection_message
        elif signal == "logs":
            logs = decode_logs(body, content_type, NORMALIZER)
            assert logs.outcomes + logs.rejected >= 1
            assert logs.outcomes >= (content_type == JSON), logs.rejection_message
        else:
            decode_metrics(body, content_type, MetricRules())
    except DecodeError:
        assert signal == "metrics" or content_type == JSON
