"""Size limits that cannot be bypassed (docs/ingest.md, "Size limits").

A 16 KB cut on values and a 1,024-character limit on dimensions meant nothing while a
20 MB attribute key was stored whole, a span could carry a million attributes (15 MB) or
20 MB of events, and metric points had no limit at all (31 MB of attributes, a 2 MB
`k8s.deployment.name` stored as a deployment). Here every kind of item is sent over its
limits, in process through the decoders (protobuf, both decoding paths, and JSON), and once
through a real server with the budget set by its setting.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList

from collector.ingest.columns import MAX_KEY_CHARS, MAX_VALUE_CHARS, TRUNCATED
from collector.ingest.logs.decode import decode_logs
from collector.ingest.metrics.decode import MetricRules, decode_metrics
from collector.ingest.traces.decode import JSON, PROTOBUF, DecodedSpans, decode_traces
from collector.settings import Settings
from sample_data.harness import otlp
from sample_data.harness.server import ServerProcess
from tests.support.fuzzing import NORMALIZER

BUDGET = 262_144  # the documented default of SPENDSCOPE_MAX_ITEM_ATTRIBUTE_CHARS
MARKER_CHARS = len(TRUNCATED.format(10**9))
LONG_KEY = "k" * (2 * 1024 * 1024)
DROPPED = "spendscope.dropped_{}_count"


def longest_key(value: Any) -> int:
    """The longest object key anywhere in a decoded JSON value."""
    if isinstance(value, dict):
        return max([len(k) for k in value] + [longest_key(v) for v in value.values()])
    if isinstance(value, list):
        return max([longest_key(v) for v in value], default=0)
    return 0


def decode(spans: list[Any], content_type: str, resource: dict[str, Any] | None = None) -> Any:
    export = otlp.request(spans, resource)
    body = export.SerializeToString() if content_type == PROTOBUF else otlp.to_json(export)
    decoded = decode_traces(body, content_type, NORMALIZER)
    assert isinstance(decoded, DecodedSpans)
    return decoded


def row(decoded: Any) -> dict[str, Any]:
    (stored,) = decoded.table.to_pylist()
    return {
        key: orjson.loads(value) if key in JSON_COLUMNS and value else value
        for key, value in stored.items()
    }


JSON_COLUMNS = ("attributes", "resource_attributes", "events", "links")
# Protobuf through the bulk decoder (ASCII keys), protobuf through the reference decoder
# (a non-ASCII key sends the request there), and OTLP/JSON.
PATHS = [(PROTOBUF, "k"), (PROTOBUF, "é"), (JSON, "k")]
PATH_IDS = ["protobuf-bulk", "protobuf-reference", "json"]


def model_call(extra: dict[str, Any], number: int = 1) -> Any:
    """A model call whose usage attributes come after `extra` (limits must not hide them)."""
    span = otlp.span(1, number, name="chat gpt-4o")
    span.attributes.extend(otlp.key_values(extra))
    span.attributes.extend(otlp.key_values(otlp.MODEL_CALL))
    return span


# --- keys ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("content_type", "letter"), PATHS, ids=PATH_IDS)
def test_long_keys_are_cut_wherever_they_are(content_type: str, letter: str) -> None:
    long_key = letter * len(LONG_KEY)
    span = model_call({long_key: "v"})
    nested = AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=long_key, value=AnyValue())]))
    span.attributes.add(key="nested", value=nested)
    event = span.events.add(name="e", time_unix_nano=otlp.BASE_NS)
    event.attributes.extend(otlp.key_values({long_key: 1}))
    link = span.links.add(trace_id=otlp.trace_id(2), span_id=otlp.span_id(2))
    link.attributes.extend(otlp.key_values({long_key: True}))
    decoded = decode([span], content_type, resource={long_key: "r"})
    assert (decoded.accepted, decoded.rejected) == (1, 0), decoded.rejection_message
    stored = row(decoded)
    cut = long_key[:MAX_KEY_CHARS] + TRUNCATED.format(len(long_key) - MAX_KEY_CHARS)
    assert stored["attributes"][cut] == "v"
    assert stored["attributes"]["nested"] == {cut: None}
    assert stored["events"][0]["attributes"] == {cut: 1}
    assert stored["links"][0]["attributes"] == {cut: True}
    assert stored["resource_attributes"] == {cut: "r"}
    for column in JSON_COLUMNS:
        assert longest_key(stored[column]) <= MAX_KEY_CHARS + MARKER_CHARS, column
    assert stored["input_tokens"] == 100


# --- a span's budget ----------------------------------------------------------------------------


def many_attributes(count: int, letter: str = "k") -> dict[str, Any]:
    return {f"{letter}.{n}": f"value-{n}" for n in range(count)}


def stored_chars(stored: dict[str, Any]) -> int:
    return sum(len(orjson.dumps(stored[c])) for c in ("attributes", "events", "links") if stored[c])


@pytest.mark.parametrize(("content_type", "letter"), PATHS, ids=PATH_IDS)
def test_a_million_attributes_are_kept_within_the_budget_and_counted(
    content_type: str, letter: str
) -> None:
    sent = many_attributes(100_000, letter)  # 2.5 MB of JSON: ten times the budget
    decoded = decode([model_call(sent)], content_type)
    assert (decoded.accepted, decoded.rejected) == (1, 0)
    stored = row(decoded)
    attributes = stored["attributes"]
    assert stored_chars(stored) <= BUDGET
    kept = [key for key in attributes if key in sent]
    assert len(kept) > 1000, "the budget keeps what fits"
    assert kept == list(sent)[: len(kept)], "attributes are kept in order"
    # Each attribute that was not mapped is kept or counted (gen_ai.provider.name, sent
    # last, stays among them).
    assert len(attributes) - 1 + attributes[DROPPED.format("attributes")] == len(sent) + 1
    # The model call was read from all of them, before the budget.
    assert (stored["is_model_call"], stored["input_tokens"], stored["output_tokens"]) == (
        True,
        100,
        20,
    )


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
@pytest.mark.parametrize("kind", ["events", "links"])
def test_events_and_links_are_kept_within_the_budget_and_counted(
    content_type: str, kind: str
) -> None:
    span = model_call({"a": "b"})
    for n in range(2000):  # 2,000 x ~1 KB: eight times the budget
        if kind == "events":
            item = span.events.add(name=f"e{n}", time_unix_nano=otlp.BASE_NS + n)
        else:
            item = span.links.add(trace_id=otlp.trace_id(3), span_id=otlp.span_id(n + 1))
        item.attributes.extend(otlp.key_values({"payload": "x" * 1000}))
    stored = row(decode([span], content_type))
    assert stored_chars(stored) <= BUDGET
    kept = stored[kind]
    assert 100 < len(kept) < 2000
    assert stored["attributes"]["a"] == "b"
    assert stored["attributes"][DROPPED.format(kind)] == 2000 - len(kept)


def test_huge_resource_attributes_are_kept_within_the_budget() -> None:
    resource = many_attributes(50_000)
    decoded = decode([model_call({}), model_call({}, 2)], PROTOBUF, resource=resource)
    assert decoded.accepted == 2
    for stored in decoded.table.column("resource_attributes").to_pylist():
        assert len(stored) <= BUDGET
        assert orjson.loads(stored)[DROPPED.format("attributes")] > 30_000


def test_the_budget_is_a_setting_with_the_documented_default() -> None:
    assert Settings().max_item_attribute_chars == BUDGET  # type: ignore[attr-defined]


# --- log records and metric points --------------------------------------------------------------


def test_an_outcome_record_keeps_its_attributes_within_the_budget() -> None:
    export = ExportLogsServiceRequest()
    record = (
        export.resource_logs.add()
        .scope_logs.add()
        .log_records.add(event_name="spendscope.outcome", time_unix_nano=otlp.BASE_NS)
    )
    record.attributes.extend(otlp.key_values({"spendscope.outcome.name": "ticket_resolved"}))
    record.attributes.extend(otlp.key_values(many_attributes(100_000)))
    record.attributes.extend(otlp.key_values({LONG_KEY: "v"}))
    decoded = decode_logs(export.SerializeToString(), PROTOBUF, NORMALIZER)
    assert (decoded.outcomes, decoded.rejected) == (1, 0)
    (stored,) = decoded.rows.column("attributes").to_pylist()
    assert len(stored) <= BUDGET
    attributes = orjson.loads(stored)
    assert attributes[DROPPED.format("attributes")] > 80_000
    assert longest_key(attributes) <= MAX_KEY_CHARS + MARKER_CHARS


def metric_export(attributes: dict[str, Any]) -> bytes:
    export = ExportMetricsServiceRequest()
    metric = (
        export.resource_metrics.add().scope_metrics.add().metrics.add(name="vllm:prompt_tokens")
    )
    for n, extra in enumerate(({}, attributes)):  # a good point, then the one under test
        point = metric.sum.data_points.add(time_unix_nano=otlp.BASE_NS + n, as_int=5)
        point.attributes.extend(otlp.key_values({"model_name": "llama", **extra}))
    return export.SerializeToString()


def test_a_metric_point_with_a_dimension_over_1024_characters_is_rejected() -> None:
    decoded = decode_metrics(
        metric_export({"k8s.deployment.name": "d" * (2 * 1024 * 1024)}), PROTOBUF, MetricRules()
    )
    assert (decoded.accepted, decoded.rejected) == (1, 1)
    assert "deployment is 2097152 characters long (limit 1024)" in decoded.rejection_message
    assert len(decoded.rejection_message) < 300
    assert decoded.table.column("deployment").to_pylist() == [None]


@pytest.mark.parametrize(
    ("attributes", "check"),
    [
        (many_attributes(100_000), lambda a: a[DROPPED.format("attributes")] > 80_000),
        ({"note": "n" * (2 * 1024 * 1024)}, lambda a: len(a["note"]) <= MAX_VALUE_CHARS + 40),
        ({LONG_KEY: "v"}, lambda a: longest_key(a) <= MAX_KEY_CHARS + MARKER_CHARS),
    ],
    ids=["many-attributes", "long-value", "long-key"],
)
def test_a_metric_point_stores_bounded_attributes(
    attributes: dict[str, Any], check: Callable[[dict[str, Any]], bool]
) -> None:
    decoded = decode_metrics(metric_export(attributes), PROTOBUF, MetricRules())
    assert (decoded.accepted, decoded.rejected) == (2, 0)
    stored = decoded.table.column("attributes").to_pylist()[1]
    assert len(stored) <= BUDGET
    assert check(orjson.loads(stored))


# --- through the server --------------------------------------------------------------------------


def test_the_server_applies_the_budget_set_by_its_setting(tmp_path: Path) -> None:
    budget = 4096
    env = {"SPENDSCOPE_MAX_ITEM_ATTRIBUTE_CHARS": str(budget)}
    with ServerProcess(tmp_path / "server", env=env) as server:
        span = model_call(many_attributes(1000))
        for n in range(100):
            span.events.add(name=f"e{n}", time_unix_nano=otlp.BASE_NS + n)
        response = server.client.post(
            f"{server.http_url}/v1/traces",
            content=otlp.request([span]).SerializeToString(),
            headers={"content-type": PROTOBUF},
        )
        assert response.status_code == 200, response.text
        server.stop(60)
    with duckdb.connect(str(server.database_path), read_only=True) as conn:
        stored = conn.execute("SELECT attributes, events, input_tokens FROM spans").fetchall()
    ((attributes, events, input_tokens),) = stored
    assert len(attributes) + len(events or "") <= budget
    assert orjson.loads(attributes)[DROPPED.format("attributes")] > 700
    assert orjson.loads(attributes)[DROPPED.format("events")] == 100
    assert input_tokens == 100
