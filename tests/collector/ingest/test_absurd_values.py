"""Absurd values, sent through the real HTTP receiver: each one gets the clear rejection or
the documented clamp of docs/normalization.md ("Clamps and rejections"), never a 5xx.

Every trace case is sent next to a well-formed span, so a rejection shows as OTLP partial
success naming the reason, and the good span is stored regardless. What was clamped is
read back from the database file once the server is gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from collector.ingest.columns import MAX_KEY_CHARS, MAX_VALUE_CHARS, TRUNCATED
from sample_data.harness import otlp
from sample_data.harness.server import ServerProcess

MIB = 1024 * 1024
BIG = "x" * MIB
START = otlp.BASE_NS
YEAR_1_NS = -62_135_596_800 * 10**9
YEAR_2250_NS = 8_835_264_000 * 10**9  # inside int64, beyond the 2200 limit
YEAR_9999_NS = 253_402_300_799 * 10**9  # beyond even uint64


def attr(key: str, **value: Any) -> dict[str, Any]:
    return {"key": key, "value": value}


def output_tokens(**value: Any) -> dict[str, Any]:
    return {"extra_attributes": [attr("gen_ai.usage.output_tokens", **value)]}


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"stringValue": "bottom"}
    for _ in range(levels):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return value


def json_span(trace: int, **fields: Any) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": otlp.trace_id(trace).hex(),
        "spanId": otlp.span_id(1).hex(),
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": str(START),
        "endTimeUnixNano": str(START + 10**9),
        "attributes": [
            attr("gen_ai.operation.name", stringValue="chat"),
            attr("gen_ai.request.model", stringValue="gpt-4o-mini"),
            attr("gen_ai.provider.name", stringValue="openai"),
            attr("gen_ai.usage.input_tokens", intValue="100"),
        ],
    }
    extra = fields.pop("extra_attributes", [])
    span.update(fields)
    span["attributes"] = [*span["attributes"], *extra]
    return span


def body(*spans: dict[str, Any]) -> dict[str, Any]:
    return {"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}


# (case, span fields, the reason in the partial-success message)
REJECTED: list[tuple[str, dict[str, Any], str]] = [
    ("negative-tokens", output_tokens(intValue="-5"), "is negative"),
    ("1e15-tokens", output_tokens(intValue=str(10**15)), "exceeds the limit of 1000000000"),
    ("fractional-tokens", output_tokens(doubleValue=2.5), "must be a whole number"),
    ("text-tokens", output_tokens(stringValue="lots"), "must be a whole number"),
    ("nan-cost", {"extra_attributes": [attr("gen_ai.usage.cost", doubleValue="NaN")]},
     "must be a finite number"),
    ("negative-cost", {"extra_attributes": [attr("gen_ai.usage.cost", doubleValue=-1.0)]},
     "out of range"),
    ("start-year-1", {"startTimeUnixNano": str(YEAR_1_NS)}, "outside the 64-bit range"),
    ("start-year-2250", {"startTimeUnixNano": str(YEAR_2250_NS),
                         "endTimeUnixNano": str(YEAR_2250_NS)}, "before 2200"),
    ("start-year-9999", {"startTimeUnixNano": str(YEAR_9999_NS)}, "outside the 64-bit range"),
    ("end-year-2250", {"endTimeUnixNano": str(YEAR_2250_NS)}, "before 2200"),
    ("start-zero", {"startTimeUnixNano": "0"}, "before 2200"),
    ("deep-nesting", {"extra_attributes": [{"key": "deep", "value": deep(20)}]},
     "nested deeper than 16 levels"),
    ("1mb-session-id", {"extra_attributes": [attr("session.id", stringValue=BIG)]},
     f"session_id is {MIB} characters long (limit {MAX_KEY_CHARS})"),
    ("1mb-model", {"attributes": [attr("gen_ai.request.model", stringValue=BIG)]},
     f"request_model is {MIB} characters long"),
    ("1mb-span-name", {"name": BIG}, f"name is {MIB} characters long"),
    ("short-trace-id", {"traceId": "ab" * 15}, "traceId must be 32 hex characters"),
    ("zero-span-id", {"spanId": "0" * 16}, "span_id must be 8 bytes and not all zero"),
    ("kind-99", {"kind": 99}, "span kind or status code out of range"),
]  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("absurd")) as process:
        yield process


def post(server: ServerProcess, path: str, payload: Any, content_type: str) -> httpx.Response:
    content = (
        payload if isinstance(payload, bytes) else httpx.Request("POST", "/", json=payload).content
    )
    return server.client.post(
        f"{server.http_url}{path}", content=content, headers={"content-type": content_type}
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [case[1:] for case in REJECTED],
    ids=[case[0] for case in REJECTED],
)
def test_an_absurd_span_is_rejected_with_a_clear_reason(
    server: ServerProcess, fields: dict[str, Any], reason: str, request: pytest.FixtureRequest
) -> None:
    trace = 100 + [case[0] for case in REJECTED].index(request.node.callspec.id)
    good = json_span(trace, spanId=otlp.span_id(2).hex())
    response = post(server, "/v1/traces", body(good, json_span(trace, **fields)), otlp.JSON)
    assert response.status_code == 200, response.text
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert reason in partial["errorMessage"], partial["errorMessage"]
    assert len(partial["errorMessage"]) < 1000  # a reason, not an echo of the value


def test_every_span_absurd_is_a_400(server: ServerProcess) -> None:
    bad = json_span(1, extra_attributes=[attr("gen_ai.usage.input_tokens", intValue="-1")])
    response = post(server, "/v1/traces", body(bad), otlp.JSON)
    assert response.status_code == 400
    assert "all 1 spans rejected" in response.json()["message"]


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        (otlp.JSON, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "\xc3\x28"}]}]}]}'),
        (otlp.PROTOBUF, otlp.request([otlp.span(2, 1, name="ok")]).SerializeToString()
         .replace(b"ok", b"\xc3\x28")),
    ],
    ids=["json", "protobuf"],
)  # fmt: skip
def test_invalid_utf8_is_a_400(server: ServerProcess, content_type: str, payload: bytes) -> None:
    response = post(server, "/v1/traces", payload, content_type)
    assert response.status_code == 400, response.text


def test_absurd_metric_points_and_outcome_records_are_rejected(server: ServerProcess) -> None:
    metrics = ExportMetricsServiceRequest()
    metric = (
        metrics.resource_metrics.add().scope_metrics.add().metrics.add(name="DCGM_FI_DEV_GPU_UTIL")
    )
    for time_ns in (START, 2**63, YEAR_2250_NS):
        metric.gauge.data_points.add(time_unix_nano=time_ns, as_double=50.0).attributes.extend(
            otlp.key_values({"UUID": f"GPU-{time_ns}"})
        )
    response = post(server, "/v1/metrics", metrics.SerializeToString(), otlp.PROTOBUF)
    assert response.status_code == 200, response.text
    partial = ExportMetricsServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_data_points == 2
    assert "before 2200" in partial.error_message

    logs = ExportLogsServiceRequest()
    records = logs.resource_logs.add().scope_logs.add().log_records
    for time_ns, session in ((START, "s-1"), (YEAR_2250_NS, "s-2"), (START, BIG)):
        record = records.add(event_name="spendscope.outcome", time_unix_nano=time_ns)
        record.attributes.extend(
            otlp.key_values({"spendscope.outcome.name": "ticket_resolved", "session.id": session})
        )
    response = post(server, "/v1/logs", logs.SerializeToString(), otlp.PROTOBUF)
    assert response.status_code == 200, response.text
    log_partial = ExportLogsServiceResponse.FromString(response.content).partial_success
    assert log_partial.rejected_log_records == 2
    assert f"session_id is {MIB} characters long (limit 512)" in log_partial.error_message


def test_an_absurd_token_counter_is_rejected_and_the_gpu_jobs_keep_running(
    server: ServerProcess,
) -> None:
    """A vLLM counter at 8.8e177 once made every run of the efficiency job fail on its
    int64 sums, stopping GPU figures for every deployment: it is refused at the door."""
    metrics = ExportMetricsServiceRequest()
    metric = (
        metrics.resource_metrics.add()
        .scope_metrics.add()
        .metrics.add(name="vllm:prompt_tokens_total")
    )
    metric.sum.aggregation_temporality = 2  # cumulative
    metric.sum.is_monotonic = True
    for offset, value in ((0, 100.0), (60, 8.812476729040326e177), (120, 2.0**53 + 2)):
        metric.sum.data_points.add(
            time_unix_nano=START + offset * 10**9, start_time_unix_nano=START, as_double=value
        ).attributes.extend(otlp.key_values({"model_name": "absurd"}))
    response = post(server, "/v1/metrics", metrics.SerializeToString(), otlp.PROTOBUF)
    assert response.status_code == 200, response.text
    partial = ExportMetricsServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_data_points == 2
    assert "beyond +-2^53" in partial.error_message
    server.wait_attributed()  # every job caught up, none failing
    assert "JobError" not in server.log_path.read_text(errors="replace")


CLAMP_TRACE = 900


def test_clamps_are_stored_as_documented(server: ServerProcess) -> None:
    spans = [
        # end before start: stored with end = start
        json_span(CLAMP_TRACE, spanId=otlp.span_id(1).hex(), endTimeUnixNano=str(START - 10**9)),
        # 1 MB attribute value, status message and resource-free event attribute: truncated
        json_span(
            CLAMP_TRACE,
            spanId=otlp.span_id(2).hex(),
            extra_attributes=[attr("gen_ai.prompt", stringValue=BIG)],
            status={"code": 2, "message": BIG},
            events=[
                {
                    "name": "e",
                    "timeUnixNano": str(START),
                    "attributes": [attr("payload", stringValue=BIG)],
                }
            ],
        ),
        # a value just at the limit is kept whole
        json_span(
            CLAMP_TRACE,
            spanId=otlp.span_id(3).hex(),
            extra_attributes=[attr("gen_ai.prompt", stringValue="y" * MAX_VALUE_CHARS)],
        ),
    ]
    payload = body(*spans)
    payload["resourceSpans"][0]["resource"] = {"attributes": [attr("blob", stringValue=BIG)]}
    response = post(server, "/v1/traces", payload, otlp.JSON)
    assert response.status_code == 200, response.text
    assert "partialSuccess" not in response.json()
    server.kill()
    with duckdb.connect(str(server.database_path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT span_id, epoch_ns(start_time), epoch_ns(end_time), status_message,"
            " attributes, resource_attributes, events FROM spans WHERE trace_id = ?"
            " ORDER BY span_id",
            [otlp.trace_id(CLAMP_TRACE)],
        ).fetchall()
    assert [row[0] for row in rows] == [otlp.span_id(n) for n in (1, 2, 3)]
    clamped, truncated, whole = rows
    assert clamped[1] == clamped[2] == START
    marker = TRUNCATED.format(MIB - MAX_VALUE_CHARS)
    assert truncated[3] == "x" * MAX_VALUE_CHARS + marker
    for column in truncated[4:7]:
        assert marker in column and len(column) < MAX_VALUE_CHARS + 500, column[:100]
    assert '"' + "y" * MAX_VALUE_CHARS + '"' in whole[4] and "truncated" not in whole[4]
