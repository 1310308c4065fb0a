"""Partial-success messages are bounded (docs/ingest.md, "Responses").

A 63 MB request once got a 126 MB partial-success answer: each rejected span's id was
echoed in hex, whatever its length. The message now holds the first few reasons, each
short, and the count of the others, for every signal and for the 400 that answers a
request whose every item was rejected.
"""

from __future__ import annotations

import re

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.ingest.logs.decode import decode_logs
from collector.ingest.metrics.decode import MetricRules, decode_metrics
from collector.ingest.traces.decode import JSON, PROTOBUF, decode_traces
from sample_data.harness import otlp
from sample_data.harness.server import ServerProcess
from tests.support.fuzzing import NORMALIZER

BOUND = 2000  # characters: five short reasons and a count


def bad_span(number: int, span_id: bytes | None = None) -> Span:
    """A span rejected for its start time; with `span_id`, an absurd id too."""
    span = otlp.span(1, number, attributes=otlp.MODEL_CALL)
    span.start_time_unix_nano = 0
    if span_id is not None:
        span.span_id = span_id
    return span


def test_a_huge_span_id_is_not_echoed_whole() -> None:
    spans = [otlp.span(1, 1, attributes=otlp.MODEL_CALL), bad_span(2, b"\xab" * 1_000_000)]
    decoded = decode_traces(otlp.request(spans).SerializeToString(), PROTOBUF, NORMALIZER)
    assert (decoded.accepted, decoded.rejected) == (1, 1)
    assert len(decoded.rejection_message) < BOUND
    assert decoded.rejection_message.startswith("span " + "ab" * 16 + "...")


def test_a_huge_json_span_id_is_not_echoed_whole() -> None:
    export = otlp.request([otlp.span(1, 1, attributes=otlp.MODEL_CALL), bad_span(2)])
    body = otlp.to_json(export).replace(otlp.span_id(2).hex().encode(), b"ab" * 500_000)
    decoded = decode_traces(body, JSON, NORMALIZER)
    assert (decoded.accepted, decoded.rejected) == (1, 1)
    assert len(decoded.rejection_message) < BOUND


def test_many_rejections_give_the_first_reasons_and_a_count() -> None:
    spans = [otlp.span(1, 1, attributes=otlp.MODEL_CALL)]
    spans += [bad_span(n, otlp.span_id(n) * 100) for n in range(2, 10_002)]
    decoded = decode_traces(otlp.request(spans).SerializeToString(), PROTOBUF, NORMALIZER)
    assert (decoded.accepted, decoded.rejected) == (1, 10_000)
    message = decoded.rejection_message
    assert len(message) < BOUND
    assert message.count("span ") == 5
    assert message.endswith("; and 9995 more rejected")


def test_log_and_metric_messages_are_bounded_and_counted() -> None:
    logs = ExportLogsServiceRequest()
    records = logs.resource_logs.add().scope_logs.add().log_records
    for _ in range(3000):
        record = records.add(event_name="spendscope.outcome", time_unix_nano=otlp.BASE_NS)
        record.attributes.extend(otlp.key_values({"spendscope.outcome.name": "x" * 100_000}))
    decoded_logs = decode_logs(logs.SerializeToString(), PROTOBUF, NORMALIZER)
    assert decoded_logs.rejected == 3000
    assert len(decoded_logs.rejection_message) < BOUND
    assert decoded_logs.rejection_message.endswith("; and 2995 more rejected")

    metrics = ExportMetricsServiceRequest()
    metric = (
        metrics.resource_metrics.add().scope_metrics.add().metrics.add(name="vllm:num_preemptions")
    )
    for _ in range(3000):
        metric.gauge.data_points.add(time_unix_nano=0, as_double=1.0)
    decoded_metrics = decode_metrics(metrics.SerializeToString(), PROTOBUF, MetricRules())
    assert decoded_metrics.rejected == 3000
    assert decoded_metrics.rejection_message.endswith("; and 2995 more rejected")


def test_the_server_answers_a_huge_id_in_a_few_hundred_bytes(shared_server: ServerProcess) -> None:
    url, headers = f"{shared_server.http_url}/v1/traces", {"content-type": PROTOBUF}
    good = otlp.span(0x7E0_001, 1, attributes=otlp.MODEL_CALL)
    huge_id = b"\xcd" * 400_000  # under the shared server's 1 MiB body limit
    body = otlp.request([good, bad_span(2, huge_id)]).SerializeToString()
    response = shared_server.client.post(url, content=body, headers=headers)
    assert response.status_code == 200
    assert len(response.content) < BOUND
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    # Every span rejected: a 400 whose google.rpc.Status is bounded the same way.
    body = otlp.request([bad_span(n, huge_id[:100_000] + bytes([n])) for n in range(5)])
    response = shared_server.client.post(url, content=body.SerializeToString(), headers=headers)
    assert response.status_code == 400
    assert len(response.content) < BOUND
    assert re.search(rb"all 5 spans rejected", response.content)
