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
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from prometheus_client import CollectorRegistry

from collector.ingest.traces.decode import JSON, PROTOBUF, decode_traces
from collector.ingest.traces.writer import SpanBatches, Written
from collector.service_metrics import IngestMetrics
from sample_data.harness import otlp
from sample_data.harness.server import ServerProcess
from tests.support.fuzzing import NORMALIZER
from warehouse.store.database import Database

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


# --- across requests: a span already stored, or stored by another request of the commit ---


def post(
    server: ServerProcess, spans: list[object], content_type: str = PROTOBUF
) -> httpx.Response:
    return server.client.post(
        f"{server.http_url}/v1/traces",
        content=body(spans, content_type),
        headers={"content-type": content_type},
    )


def test_a_span_conflicting_with_a_stored_one_is_reported_and_the_stored_kept(
    shared_server: ServerProcess,
) -> None:
    trace = 0x6D0_003
    first = post(shared_server, [call(trace, "acme")])
    assert first.status_code == 200
    second = post(shared_server, [call(trace, "globex"), call(trace + 1, "globex")])
    assert second.status_code == 200
    partial = ExportTraceServiceResponse.FromString(second.content).partial_success
    assert partial.rejected_spans == 1
    assert "conflicts with a stored span of the same trace and span id" in partial.error_message
    assert "different tenant_id" in partial.error_message
    (stored,) = shared_server.get("/api/v1/spans", trace_id=f"{trace:032x}").json()["spans"]
    assert stored["tenant_id"] == "acme"
    assert "conflict with a stored span of the same trace and span id" in (
        shared_server.log_path.read_text(errors="replace")
    )
    # Sent again alike: idempotent, a plain 200, still one span.
    again = post(shared_server, [call(trace, "acme")])
    assert again.status_code == 200
    assert not ExportTraceServiceResponse.FromString(again.content).HasField("partial_success")
    assert len(shared_server.get("/api/v1/spans", trace_id=f"{trace:032x}").json()["spans"]) == 1


def test_a_request_of_conflicting_spans_only_is_rejected_as_a_whole(
    shared_server: ServerProcess,
) -> None:
    """Every span rejected is a 400, as when the decoder rejects them all."""
    trace = 0x6D0_005
    assert post(shared_server, [call(trace, "acme")], JSON).status_code == 200
    answer = post(shared_server, [call(trace, "acme", model="gpt-4o-mini")], JSON)
    assert answer.status_code == 400
    message = answer.json()["message"]
    assert "all 1 spans rejected" in message and "different request_model" in message


def test_grpc_reports_a_conflict_with_a_stored_span(shared_server: ServerProcess) -> None:
    trace = 0x6D0_006
    with grpc.insecure_channel(shared_server.grpc_endpoint) as channel:
        export = channel.unary_unary(TRACE_EXPORT)
        export(body([call(trace, "acme")], PROTOBUF), timeout=30)
        answer = export(
            body([call(trace, "acme", tokens=7), call(trace + 1, "acme")], PROTOBUF), timeout=30
        )
        alike = export(body([call(trace, "acme")], PROTOBUF), timeout=30)
    partial = ExportTraceServiceResponse.FromString(answer).partial_success
    assert partial.rejected_spans == 1
    assert "different input_tokens" in partial.error_message
    assert not ExportTraceServiceResponse.FromString(alike).HasField("partial_success")


def commit_together(database: Database, *requests: list[object]) -> list[Written]:
    """The requests' spans written in one transaction by the span writer's batch, as one
    group commit does."""
    tables = [
        decode_traces(body(spans, PROTOBUF), PROTOBUF, NORMALIZER).table for spans in requests
    ]
    batches = SpanBatches(IngestMetrics(CollectorRegistry()))
    cursor = database.cursor()
    try:
        cursor.begin()
        results = batches.write(cursor, tables)
        cursor.commit()
    finally:
        cursor.close()
    return results


def test_two_conflicting_requests_of_one_commit_report_exactly_one(database: Database) -> None:
    trace = 0x6D0_007
    results = commit_together(database, [call(trace, "acme")], [call(trace, "globex")])
    assert [r.spans for r in results] == [1, 1]
    assert sum(r.conflicts.rejected for r in results) == 1
    (reported,) = (r for r in results if r.conflicts.rejected)
    assert "different tenant_id" in reported.conflicts.rejection_message
    stored = database.cursor().execute("SELECT tenant_id FROM spans").fetchall()
    loser = "globex" if reported is results[1] else "acme"
    assert stored == [("globex" if loser == "acme" else "acme",)]


def test_two_alike_requests_of_one_commit_report_nothing(database: Database) -> None:
    trace = 0x6D0_008
    results = commit_together(database, [call(trace, "acme")], [call(trace, "acme")])
    assert [r.conflicts.rejected for r in results] == [0, 0]
    assert database.cursor().execute("SELECT count(*) FROM spans").fetchall() == [(1,)]
