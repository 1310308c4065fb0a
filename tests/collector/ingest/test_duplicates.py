"""Conflicting duplicates are reported, not dropped silently (docs/ingest.md, "Durability
and exactly-once").

Two spans of one request with the same (trace_id, span_id) and different content
(tenants, models, tokens) used to get a 200 with the first kept and the second counted only
in a metric. The second is now rejected through partial success, naming what differs, and
logged; a span sent twice alike is still accepted and stored once (idempotent), and an
export sent again is still a plain 200.
"""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.ingest.traces.decode import JSON, PROTOBUF, decode_traces
from sample_data.harness import otlp
from sample_data.harness.server import ServerProcess
from tests.support.fuzzing import NORMALIZER

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def call(trace: int, tenant: str, model: str = "gpt-4o", tokens: int = 100) -> object:
    attributes = {
        **otlp.MODEL_CALL,
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": tokens,
        "spendscope.tenant": tenant,
    }
    return otlp.span(trace, 1, name="chat", attributes=attributes)


def body(spans: list[object], content_type: str) -> bytes:
    export = otlp.request(spans)  # type: ignore[arg-type]
    return export.SerializeToString() if content_type == PROTOBUF else otlp.to_json(export)


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_a_conflicting_duplicate_in_one_request_is_rejected_naming_what_differs(
    content_type: str,
) -> None:
    spans = [call(1, "acme"), call(1, "globex", model="gpt-4o-mini", tokens=9), call(2, "acme")]
    decoded = decode_traces(body(spans, content_type), content_type, NORMALIZER)
    assert (decoded.accepted, decoded.rejected) == (2, 1)
    message = decoded.rejection_message
    assert "conflicts with a span of the same trace and span id" in message
    assert "tenant_id" in message and "request_model" in message and "input_tokens" in message
    assert decoded.table.column("tenant_id").to_pylist() == ["acme", "acme"]


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_a_span_sent_twice_alike_is_accepted(content_type: str) -> None:
    decoded = decode_traces(body([call(1, "acme")] * 2, content_type), content_type, NORMALIZER)
    assert (decoded.accepted, decoded.rejected) == (2, 0)


def test_the_server_reports_and_logs_the_conflict_and_keeps_the_first(
    shared_server: ServerProcess,
) -> None:
    trace = 0x6D0_001
    spans = [call(trace, "acme"), call(trace, "globex")]
    response = shared_server.client.post(
        f"{shared_server.http_url}/v1/traces",
        content=body(spans, PROTOBUF),
        headers={"content-type": PROTOBUF},
    )
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert "tenant_id" in partial.error_message
    (stored,) = shared_server.get("/api/v1/spans", trace_id=f"{trace:032x}").json()["spans"]
    assert stored["tenant_id"] == "acme"
    assert "conflict with a span of the same trace and span id" in (
        shared_server.log_path.read_text(errors="replace")
    )
    # Sent again alike: idempotent, a plain 200.
    again = shared_server.client.post(
        f"{shared_server.http_url}/v1/traces",
        content=body(spans[:1], PROTOBUF),
        headers={"content-type": PROTOBUF},
    )
    assert again.status_code == 200
    assert not ExportTraceServiceResponse.FromString(again.content).HasField("partial_success")


def test_grpc_reports_the_conflict_too(shared_server: ServerProcess) -> None:
    trace = 0x6D0_002
    with grpc.insecure_channel(shared_server.grpc_endpoint) as channel:
        answer = channel.unary_unary(TRACE_EXPORT)(
            body([call(trace, "acme"), call(trace, "acme", tokens=7)], PROTOBUF), timeout=30
        )
    partial = ExportTraceServiceResponse.FromString(answer).partial_success
    assert partial.rejected_spans == 1
    assert "input_tokens" in partial.error_message
