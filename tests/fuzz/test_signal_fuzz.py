"""Malformed logs and metrics: their decoders and receivers fail politely, whatever they get.

The trace decoder has its own file (test_malformed.py). Here `decode_logs` and
`decode_metrics` may raise `DecodeError` or return a consistent result, nothing else, and
what they accept must go into the warehouse (a row that fails the insert would fail the
group commit of every request sharing it). Bodies are generated messages with edge values,
valid messages with bytes flipped or cut, and arbitrary JSON. Against the running server,
any body on `/v1/logs` or `/v1/metrics` gives 200, 400, 413 or 415, never a 5xx
(the session's shared server, which must log no traceback).

Hypothesis runs derandomized, so a run is repeatable; `max_examples` bounds the time.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Metric,
    NumberDataPoint,
)

from collector.ingest.logs.decode import DecodedLogs, decode_logs
from collector.ingest.metrics.decode import DecodedMetrics, MetricRules, decode_metrics
from collector.ingest.traces.decode import JSON, PROTOBUF, DecodeError
from sample_data.harness import otlp
from sample_data.harness.server import ServerProcess
from tests.support import fuzzing
from tests.support.fuzzing import (
    EDGE_TIMES,
    FLOATS,
    NORMALIZER,
    U64,
    scalar_values,
    warehouse_cursor,
)
from warehouse.gpu.metric_points import insert_metric_points
from warehouse.outcomes.records import insert_outcomes

FUZZ = settings(fuzzing.FUZZ, max_examples=150)
RULES = MetricRules()
NOW = dt.datetime(2025, 11, 22, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    with warehouse_cursor(tmp_path_factory.mktemp("signal-fuzz")) as cursor:
        yield cursor


def check_logs(
    cursor: duckdb.DuckDBPyConnection, body: bytes, content_type: str
) -> DecodedLogs | None:
    """`decode_logs` under its contract; what it accepts is inserted, then rolled back."""
    try:
        decoded = decode_logs(body, content_type, NORMALIZER)
    except DecodeError:
        return None
    assert min(decoded.outcomes, decoded.ignored, decoded.rejected) >= 0
    assert decoded.rows.num_rows <= decoded.outcomes
    assert (decoded.rejected == 0) == (decoded.rejection_message == "")
    cursor.begin()
    try:
        insert_outcomes(cursor, decoded.rows, NOW)
    finally:
        cursor.rollback()
    return decoded


def check_metrics(
    cursor: duckdb.DuckDBPyConnection, body: bytes, content_type: str
) -> DecodedMetrics | None:
    """`decode_metrics` under its contract; what it accepts is inserted, then rolled back."""
    try:
        decoded = decode_metrics(body, content_type, RULES)
    except DecodeError:
        return None
    assert decoded.table.num_rows == decoded.accepted
    assert min(decoded.accepted, decoded.rejected, decoded.ignored) >= 0
    assert (decoded.rejected == 0) == (decoded.rejection_message == "")
    cursor.begin()
    try:
        insert_metric_points(cursor, decoded.table, 1, NOW)
    finally:
        cursor.rollback()
    return decoded


# --- strategies ----------------------------------------------------------------------------

texts = st.text(max_size=12) | st.sampled_from(["", "\x00", "\U0010ffff", "NaN", "x" * 2000])
times = st.sampled_from(EDGE_TIMES) | st.integers(0, U64)
scalars = scalar_values(texts)
values = scalars | st.lists(scalars, max_size=3).map(
    lambda vs: AnyValue(array_value=ArrayValue(values=vs))
)
id_bytes = st.sampled_from([0, 8, 16, 17]).flatmap(lambda n: st.binary(min_size=n, max_size=n))


def key_values(keys: st.SearchStrategy[str]) -> st.SearchStrategy[list[KeyValue]]:
    return st.lists(st.builds(KeyValue, key=keys | texts, value=values), max_size=6)


OUTCOME_KEYS = st.sampled_from(
    [
        "spendscope.outcome.name",
        "spendscope.outcome.count",
        "spendscope.outcome.success",
        "spendscope.outcome.key",
        "spendscope.outcome.feature",
        "spendscope.outcome.id",
        "event.name",
        "session.id",
        "spendscope.tenant",
    ]
)
METRIC_NAMES = (
    st.sampled_from(
        [
            "DCGM_FI_DEV_GPU_UTIL",
            "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
            "hw.gpu.utilization",
            "vllm:prompt_tokens",
            "vllm:num_requests_running",
            "gen_ai.client.token.usage",
        ]
    )
    | texts
)
POINT_KEYS = st.sampled_from(
    ["UUID", "gpu", "Hostname", "modelName", "hw.gpu.task", "model_name", "server.address"]
)


@st.composite
def log_exports(draw: st.DrawFn) -> ExportLogsServiceRequest:
    records = []
    for _ in range(draw(st.integers(0, 4))):
        record = LogRecord(
            event_name=draw(st.sampled_from(["spendscope.outcome", ""]) | texts),
            time_unix_nano=draw(times),
            observed_time_unix_nano=draw(times),
            trace_id=draw(id_bytes),
            span_id=draw(id_bytes),
            attributes=draw(key_values(OUTCOME_KEYS)),
        )
        records.append(record)
    export = ExportLogsServiceRequest()
    resource_logs = export.resource_logs.add()
    resource_logs.resource.attributes.extend(draw(key_values(OUTCOME_KEYS)))
    resource_logs.scope_logs.add().log_records.extend(records)
    return export


@st.composite
def number_points(draw: st.DrawFn) -> NumberDataPoint:
    point = NumberDataPoint(
        time_unix_nano=draw(times),
        start_time_unix_nano=draw(times),
        attributes=draw(key_values(POINT_KEYS)),
        flags=draw(st.sampled_from([0, 1, 2])),
    )
    if draw(st.booleans()):
        point.as_double = draw(FLOATS)
    else:
        point.as_int = draw(st.integers(-(2**63), 2**63 - 1))
    return point


@st.composite
def metric_exports(draw: st.DrawFn) -> ExportMetricsServiceRequest:
    metrics = []
    for _ in range(draw(st.integers(0, 3))):
        metric = Metric(name=draw(METRIC_NAMES))
        kind = draw(st.sampled_from(["gauge", "sum", "histogram", "summary", "none"]))
        count = draw(st.integers(0, 3))
        if kind == "gauge":
            metric.gauge.data_points.extend([draw(number_points()) for _ in range(count)])
        elif kind == "sum":
            metric.sum.aggregation_temporality = AggregationTemporality.ValueType(
                draw(st.integers(0, 3))
            )
            metric.sum.data_points.extend([draw(number_points()) for _ in range(count)])
        elif kind == "histogram":
            for _ in range(count):
                metric.histogram.data_points.add(
                    time_unix_nano=draw(times),
                    start_time_unix_nano=draw(times),
                    count=draw(st.integers(0, U64)),
                    sum=draw(FLOATS),
                    attributes=draw(key_values(POINT_KEYS)),
                )
        elif kind == "summary":
            metric.summary.data_points.add(time_unix_nano=draw(times), count=3)
        metrics.append(metric)
    export = ExportMetricsServiceRequest()
    resource_metrics = export.resource_metrics.add()
    resource_metrics.resource.attributes.extend(draw(key_values(POINT_KEYS)))
    resource_metrics.scope_metrics.add().metrics.extend(metrics)
    return export


def valid_log_export() -> ExportLogsServiceRequest:
    export = ExportLogsServiceRequest()
    record = (
        export.resource_logs.add()
        .scope_logs.add()
        .log_records.add(event_name="spendscope.outcome", time_unix_nano=otlp.BASE_NS)
    )
    record.attributes.extend(
        otlp.key_values({"spendscope.outcome.name": "ticket_resolved", "session.id": "s-1"})
    )
    return export


def valid_metric_export() -> ExportMetricsServiceRequest:
    export = ExportMetricsServiceRequest()
    metric = (
        export.resource_metrics.add().scope_metrics.add().metrics.add(name="DCGM_FI_DEV_GPU_UTIL")
    )
    point = metric.gauge.data_points.add(time_unix_nano=otlp.BASE_NS, as_double=42.0)
    point.attributes.extend(otlp.key_values({"UUID": "GPU-1", "Hostname": "node-1"}))
    return export


SEEDS = {
    "logs": valid_log_export().SerializeToString(),
    "metrics": valid_metric_export().SerializeToString(),
}


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """The seed with a few bytes replaced, inserted or removed, or cut short."""
    body = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.integers(0, 255))
        if action == "insert" or at == len(body):
            body.insert(at, byte)
        elif action == "replace":
            body[at] = byte
        else:
            del body[at]
    if draw(st.booleans()):
        body = body[: draw(st.integers(0, len(body)))]
    return bytes(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(
        st.sampled_from(
            ["resourceLogs", "resourceMetrics", "scopeLogs", "scopeMetrics", "logRecords",
             "metrics", "gauge", "sum", "dataPoints", "timeUnixNano", "asDouble", "asInt",
             "attributes", "key", "value", "stringValue", "intValue", "name", "eventName",
             "traceId", "count"]
        ) | st.text(max_size=6),
        children,
        max_size=4,
    ),
    max_leaves=20,
)  # fmt: skip


def as_json(message: Any) -> bytes:
    return json_format.MessageToJson(message).encode()


# --- in process ------------------------------------------------------------------------------


@FUZZ
@given(export=log_exports())
def test_generated_log_exports_decode_or_fail_politely(
    export: ExportLogsServiceRequest, warehouse: duckdb.DuckDBPyConnection
) -> None:
    check_logs(warehouse, export.SerializeToString(), PROTOBUF)
    check_logs(warehouse, as_json(export), JSON)


@FUZZ
@given(export=metric_exports())
def test_generated_metric_exports_decode_or_fail_politely(
    export: ExportMetricsServiceRequest, warehouse: duckdb.DuckDBPyConnection
) -> None:
    check_metrics(warehouse, export.SerializeToString(), PROTOBUF)
    check_metrics(warehouse, as_json(export), JSON)


@FUZZ
@given(body=mutated(SEEDS["logs"]) | st.binary(max_size=200))
def test_mutated_log_bodies_decode_or_fail_politely(
    body: bytes, warehouse: duckdb.DuckDBPyConnection
) -> None:
    check_logs(warehouse, body, PROTOBUF)
    check_logs(warehouse, body, JSON)


@FUZZ
@given(body=mutated(SEEDS["metrics"]) | st.binary(max_size=200))
def test_mutated_metric_bodies_decode_or_fail_politely(
    body: bytes, warehouse: duckdb.DuckDBPyConnection
) -> None:
    check_metrics(warehouse, body, PROTOBUF)
    check_metrics(warehouse, body, JSON)


@FUZZ
@given(value=json_values)
def test_arbitrary_json_decodes_or_fails_politely(
    value: Any, warehouse: duckdb.DuckDBPyConnection
) -> None:
    body = json.dumps(value).encode()
    check_logs(warehouse, body, JSON)
    check_metrics(warehouse, body, JSON)


def test_the_valid_seeds_decode_cleanly(warehouse: duckdb.DuckDBPyConnection) -> None:
    logs = check_logs(warehouse, SEEDS["logs"], PROTOBUF)
    assert logs is not None and (logs.outcomes, logs.rejected) == (1, 0)
    metrics = check_metrics(warehouse, SEEDS["metrics"], PROTOBUF)
    assert metrics is not None and (metrics.accepted, metrics.rejected) == (1, 0)


# --- the running server ------------------------------------------------------------------------


@st.composite
def signal_requests(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str]]:
    signal = draw(st.sampled_from(["logs", "metrics"]))
    content_type = draw(st.sampled_from([PROTOBUF, JSON, "text/plain"]))
    generated = log_exports() if signal == "logs" else metric_exports()
    if content_type == JSON:
        body = draw(generated.map(as_json) | json_values.map(lambda v: json.dumps(v).encode()))
    else:
        body = draw(generated.map(lambda m: m.SerializeToString()) | mutated(SEEDS[signal]))
    headers = {"content-type": content_type}
    if draw(st.booleans()):
        body = gzip.compress(body)
        headers["content-encoding"] = "gzip"
        if draw(st.booleans()):
            body = body[: draw(st.integers(0, len(body)))]
    return f"/v1/{signal}", body, headers


@settings(FUZZ, max_examples=200)
@given(request=signal_requests())
def test_server_answers_malformed_signals_without_a_5xx(
    request: tuple[str, bytes, dict[str, str]], shared_server: ServerProcess
) -> None:
    path, body, headers = request
    response = shared_server.client.post(
        f"{shared_server.http_url}{path}", content=body, headers=headers
    )
    assert response.status_code in (200, 400, 413, 415), (response.status_code, response.text)


def test_server_is_healthy_after_the_signal_fuzzing(shared_server: ServerProcess) -> None:
    client, url = shared_server.client, shared_server.http_url
    assert client.get(f"{url}/readyz").status_code == 200
    for path, body in (("/v1/logs", SEEDS["logs"]), ("/v1/metrics", SEEDS["metrics"])):
        response = client.post(f"{url}{path}", content=body, headers={"content-type": PROTOBUF})
        assert response.status_code == 200, (path, response.text)
    assert "Traceback" not in shared_server.log_path.read_text(errors="replace")
