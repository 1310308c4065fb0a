"""Outcomes (value units): reported in span events, span attributes, OTLP log records and
`POST /api/v1/outcomes`; counted once when re-sent; attributed through their trace or
business key whatever order things arrive in; bad ones rejected with a reason.

The server tests share one `spendscope serve` subprocess (each test uses its own sessions,
keys and time windows) and talk to it with the real OTel SDK exporters.
"""

from __future__ import annotations

import datetime as dt
import gzip
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from google.rpc import status_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.json.http._log_exporter import (
    OTLPLogExporter as JsonHttpLogExporter,
)
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as ProtobufHttpLogExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from collector.ingest.columns import SpanColumns
from collector.ingest.normalize import Normalizer
from sample_data.harness.server import ServerProcess
from warehouse.outcomes.extraction import extract_outcomes
from warehouse.outcomes.records import (
    COUNT_ATTRIBUTE,
    FEATURE_ATTRIBUTE,
    ID_ATTRIBUTE,
    KEY_ATTRIBUTE,
    NAME_ATTRIBUTE,
    OUTCOME_EVENT,
    SUCCESS_ATTRIBUTE,
    OutcomeInvalid,
    OutcomeRows,
    explicit_id,
    insert_outcomes,
    parse_attributes,
    sequence_outcomes,
    span_attribute_id,
    span_event_id,
)
from warehouse.spans.insert import insert_spans
from warehouse.store import migrate
from warehouse.store.database import Database

VALUE_UNITS = "support-agent=ticket_resolved,search=search_succeeded"
MODEL_CALL = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 120,
    "gen_ai.usage.output_tokens": 30,
}
SPAN_NS = 1_763_800_000_000_000_000  # a fixed clock for the warehouse-level tests


# --- helpers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module, with value units configured."""
    data_dir = tmp_path_factory.mktemp("outcomes") / "server"
    process = ServerProcess(data_dir, env={"SPENDSCOPE_VALUE_UNITS": VALUE_UNITS}).start()
    try:
        yield process
    finally:
        process.kill()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def tracer_provider(server: ServerProcess, memory: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "helpdesk"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider


def export_spans(server: ServerProcess, spans: tuple[ReadableSpan, ...]) -> None:
    exporter = OTLPSpanExporter(endpoint=f"{server.http_url}/v1/traces")
    assert exporter.export(spans).name == "SUCCESS"
    exporter.shutdown()


def get_outcomes(server: ServerProcess, **params: object) -> list[dict[str, Any]]:
    response = server.get("/api/v1/outcomes", **params)
    assert response.status_code == 200, response.text
    outcomes: list[dict[str, Any]] = response.json()["outcomes"]
    return outcomes


def wait_outcomes(
    server: ServerProcess, count: int, timeout: float = 15.0, **params: object
) -> list[dict[str, Any]]:
    """The outcomes matching `params` once there are `count` of them, all sequenced."""
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = get_outcomes(server, **params)
        if len(found) >= count and all(o["seq"] is not None for o in found):
            break
        time.sleep(0.1)
    assert len(found) == count, found
    assert all(o["seq"] is not None for o in found), found
    return found


def post(server: ServerProcess, payload: Any) -> httpx.Response:
    return httpx.post(f"{server.http_url}/api/v1/outcomes", json=payload, timeout=10)


def iso(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def api_time(unix_ns: int) -> str:
    """How the API shows a Unix-nanosecond time: UTC, microseconds."""
    return iso(dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=unix_ns // 1000))


# --- span events and span attributes ---------------------------------------------------


def test_outcomes_in_span_events_and_attributes_are_counted_once(served: ServerProcess) -> None:
    session = unique("span-sess")
    memory = InMemorySpanExporter()
    provider = tracer_provider(served, memory)
    tracer = provider.get_tracer("tests")
    root_attributes = {"session.id": session, "spendscope.feature": "support-agent"}
    with tracer.start_as_current_span("support session", attributes=root_attributes) as root:
        with tracer.start_as_current_span("chat gpt-4o", attributes=MODEL_CALL):
            pass
        with tracer.start_as_current_span("resolve ticket") as step:
            step.add_event(
                OUTCOME_EVENT,
                {NAME_ATTRIBUTE: "ticket_resolved", COUNT_ATTRIBUTE: 2, SUCCESS_ATTRIBUTE: True},
            )
            step.add_event(OUTCOME_EVENT, {NAME_ATTRIBUTE: "ticket_resolved", COUNT_ATTRIBUTE: 1.5})
            step.add_event("retrying", {"attempt": 2})
        with tracer.start_as_current_span(
            "save draft", attributes={NAME_ATTRIBUTE: "draft_saved", SUCCESS_ATTRIBUTE: False}
        ):
            pass
    provider.shutdown()
    spans = memory.get_finished_spans()
    export_spans(served, spans)
    trace_id = format(root.get_span_context().trace_id, "032x")
    step_span = next(s for s in spans if s.name == "resolve ticket")
    draft_span = next(s for s in spans if s.name == "save draft")

    # The child spans name no session: it comes from the trace's root.
    found = wait_outcomes(served, 2, session_id=session)
    by_name = {o["name"]: o for o in found}
    resolved, draft = by_name["ticket_resolved"], by_name["draft_saved"]
    assert resolved["source"] == "span_event"
    assert (resolved["count"], resolved["success"]) == (2, True)
    assert resolved["occurred_at"] == api_time(step_span.events[0].timestamp)
    assert resolved["outcome_id"] == span_event_id(
        bytes.fromhex(trace_id), step_span.context.span_id.to_bytes(8, "big"), 0
    )
    assert draft["source"] == "span_attribute"
    assert (draft["count"], draft["success"]) == (1, False)
    assert draft["occurred_at"] == api_time(draft_span.end_time or 0)
    assert draft["outcome_id"] == span_attribute_id(
        bytes.fromhex(trace_id), draft_span.context.span_id.to_bytes(8, "big")
    )
    for outcome in found:
        assert outcome["trace_id"] == trace_id
        assert outcome["session_from"] == "trace"
        assert outcome["feature"] == "support-agent"
    # The event with a count of 1.5 was not an outcome; the trace holds exactly two.
    assert len(get_outcomes(served, trace_id=trace_id)) == 2

    export_spans(served, spans)  # the exporter retried: same spans again
    served.wait_attributed()
    again = get_outcomes(served, session_id=session)
    assert sorted(o["outcome_id"] for o in again) == sorted(o["outcome_id"] for o in found)


# --- OTLP log records ------------------------------------------------------------------

LogExporterFactory = Callable[[ServerProcess], LogRecordExporter]
LOG_EXPORTERS: dict[str, LogExporterFactory] = {
    "http-protobuf": lambda s: ProtobufHttpLogExporter(endpoint=f"{s.http_url}/v1/logs"),
    "http-json": lambda s: JsonHttpLogExporter(endpoint=f"{s.http_url}/v1/logs"),
    "grpc": lambda s: GrpcLogExporter(endpoint=s.grpc_endpoint, insecure=True),
}


@pytest.mark.parametrize("kind", sorted(LOG_EXPORTERS))
def test_outcome_log_records_over_each_transport(served: ServerProcess, kind: str) -> None:
    session, other_session, key = unique("log-sess"), unique("log-other"), unique("query")
    span_memory = InMemorySpanExporter()
    tracer_provider_ = tracer_provider(served, span_memory)
    tracer = tracer_provider_.get_tracer("tests")
    log_memory = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=Resource.create({"service.name": "search-api"}))
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_memory))
    logger = logger_provider.get_logger("tests")

    root_attributes = {"session.id": session, "spendscope.feature": "search"}
    with tracer.start_as_current_span("search", attributes=root_attributes) as root:
        with tracer.start_as_current_span("embed query", attributes=MODEL_CALL):
            pass
        # In the trace: trace and span ids come from the current span.
        logger.emit(
            event_name=OUTCOME_EVENT,
            attributes={NAME_ATTRIBUTE: "search_succeeded", COUNT_ATTRIBUTE: 3},
            body="search answered",
        )
        logger.emit(body="an ordinary log line", attributes={"http.status": 200})
    # Outside any span, with the older `event.name` attribute and a session of its own.
    logger.emit(
        attributes={
            "event.name": OUTCOME_EVENT,
            NAME_ATTRIBUTE: "search_succeeded",
            SUCCESS_ATTRIBUTE: False,
            KEY_ATTRIBUTE: key,
            "session.id": other_session,
        }
    )
    tracer_provider_.shutdown()
    export_spans(served, span_memory.get_finished_spans())
    records = log_memory.get_finished_logs()
    assert len(records) == 3
    exporter = LOG_EXPORTERS[kind](served)
    assert exporter.export(records).name == "SUCCESS"

    in_trace = wait_outcomes(served, 1, session_id=session)[0]
    assert in_trace["source"] == "log"
    assert (in_trace["name"], in_trace["count"], in_trace["success"]) == (
        "search_succeeded",
        3,
        None,
    )
    assert in_trace["trace_id"] == format(root.get_span_context().trace_id, "032x")
    assert in_trace["session_from"] == "trace"
    assert in_trace["feature"] == "search"
    own = wait_outcomes(served, 1, session_id=other_session)[0]
    assert (own["success"], own["key"], own["session_from"]) == (False, key, "declared")
    assert own["trace_id"] is None

    assert exporter.export(records).name == "SUCCESS"  # re-sent: counted once
    exporter.shutdown()
    assert len(get_outcomes(served, session_id=session)) == 1
    assert len(get_outcomes(served, session_id=other_session)) == 1
    metrics = httpx.get(f"{served.http_url}/metrics", timeout=10).text
    assert "spendscope_log_records_ignored_total" in metrics
    assert "spendscope_outcomes_duplicate_total 0.0" not in metrics


def _log_export(records: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(
        {"resourceLogs": [{"resource": {}, "scopeLogs": [{"logRecords": records}]}]}
    )


def _outcome_record(name: Any, count: Any, session: str) -> dict[str, Any]:
    return {
        "timeUnixNano": str(SPAN_NS),
        "eventName": OUTCOME_EVENT,
        "attributes": [
            {"key": NAME_ATTRIBUTE, "value": name},
            {"key": COUNT_ATTRIBUTE, "value": count},
            {"key": "session.id", "value": {"stringValue": session}},
        ],
    }


def test_log_exports_follow_the_otlp_status_rules(served: ServerProcess) -> None:
    url = f"{served.http_url}/v1/logs"
    json_headers = {"content-type": "application/json"}
    session = unique("log-rules")
    good = _outcome_record({"stringValue": "draft_saved"}, {"intValue": "2"}, session)
    bad = _outcome_record({"stringValue": "draft_saved"}, {"stringValue": "lots"}, session)
    plain = {"body": {"stringValue": "hello"}, "attributes": []}

    partial = httpx.post(url, content=_log_export([good, bad, plain]), headers=json_headers)
    assert partial.status_code == 200, partial.text
    assert partial.json()["partialSuccess"]["rejectedLogRecords"] == "1"
    assert COUNT_ATTRIBUTE in partial.json()["partialSuccess"]["errorMessage"]
    assert [o["count"] for o in wait_outcomes(served, 1, session_id=session)] == [2]

    gzipped = httpx.post(
        url,
        content=gzip.compress(_log_export([good])),
        headers={**json_headers, "content-encoding": "gzip"},
    )
    assert gzipped.status_code == 200 and gzipped.json() == {}  # the same record: no new row
    assert len(get_outcomes(served, session_id=session)) == 1

    all_bad = httpx.post(url, content=_log_export([bad]), headers=json_headers)
    assert all_bad.status_code == 400
    assert "all 1 log records rejected" in all_bad.json()["message"]

    garbage = httpx.post(
        url, content=b"\xff\x00not protobuf", headers={"content-type": "application/x-protobuf"}
    )
    assert garbage.status_code == 400
    status = status_pb2.Status()
    status.ParseFromString(garbage.content)
    assert "ExportLogsServiceRequest" in status.message

    wrong_type = httpx.post(url, content=b"x", headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 415

    empty = httpx.post(url, content=b"", headers={"content-type": "application/x-protobuf"})
    assert empty.status_code == 200
    assert ExportLogsServiceResponse.FromString(empty.content) == ExportLogsServiceResponse()


# --- the API: late outcomes, business keys, idempotency --------------------------------


def test_late_outcomes_by_key_and_trace_whatever_the_order(served: ServerProcess) -> None:
    session, ticket = unique("late-sess"), unique("TICKET")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    calls_at = now - dt.timedelta(hours=5)
    memory = InMemorySpanExporter()
    provider = tracer_provider(served, memory)
    tracer = provider.get_tracer("tests")
    start = int(calls_at.timestamp() * 1e9)
    root_attributes = {
        "session.id": session,
        "spendscope.feature": "support-agent",
        KEY_ATTRIBUTE: ticket,  # links the ticket to this session
    }
    with (
        tracer.start_as_current_span(
            "support session", attributes=root_attributes, start_time=start
        ) as root,
        tracer.start_as_current_span("chat", attributes=MODEL_CALL, start_time=start),
    ):
        pass
    provider.shutdown()
    trace_id = format(root.get_span_context().trace_id, "032x")

    # An outcome for the trace arrives before any of its spans.
    early = post(served, {"id": unique("early"), "name": "search_succeeded", "trace_id": trace_id})
    assert early.status_code == 200, early.text
    assert early.json()["stored"] == 1
    assert get_outcomes(served, trace_id=trace_id)[0]["session_id"] is None

    export_spans(served, memory.get_finished_spans())
    served.wait_attributed()

    # Hours after the calls, the helpdesk reports the ticket resolved, by its key alone.
    resolved = {
        "name": "ticket_resolved",
        "key": ticket,
        "occurred_at": iso(now - dt.timedelta(hours=1)),
    }
    first = post(served, resolved)
    assert first.status_code == 200, first.text
    assert first.json()["stored"] == 1
    again = post(served, resolved)  # re-sent: recognised by its content
    assert again.json() == {
        "stored": 0,
        "duplicates": 1,
        "outcomes": [{"outcome_id": first.json()["outcomes"][0]["outcome_id"], "duplicate": True}],
    }
    client_id = unique("reopen")
    batch = post(
        served,
        [
            {"id": client_id, "name": "ticket_resolved", "key": ticket, "count": 2,
             "occurred_at": iso(now - dt.timedelta(minutes=50))},
            {"id": client_id, "name": "ticket_resolved", "key": ticket, "count": 9,
             "occurred_at": iso(now - dt.timedelta(minutes=40))},
        ],
    )  # fmt: skip
    assert batch.status_code == 200, batch.text
    assert (batch.json()["stored"], batch.json()["duplicates"]) == (1, 1)
    assert batch.json()["outcomes"][0]["outcome_id"] == explicit_id(client_id)

    found = wait_outcomes(served, 3, session_id=session)
    assert [(o["name"], o["count"], o["session_from"]) for o in found] == [
        ("ticket_resolved", 1, "key"),
        ("ticket_resolved", 2, "key"),
        ("search_succeeded", 1, "trace"),
    ]
    assert all(o["feature"] == "support-agent" and o["trace_id"] == trace_id for o in found)
    seqs = [o["seq"] for o in sorted(found, key=lambda o: o["received_at"])]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3

    window = {
        "since": iso(now - dt.timedelta(hours=2)),
        "until": iso(now - dt.timedelta(minutes=45)),
    }
    units = served.get("/api/v1/value-units", **window).json()["value_units"]
    support = next(u for u in units if u["feature"] == "support-agent")
    assert (support["outcome"], support["units"], support["sessions"]) == ("ticket_resolved", 3, 1)


BAD_PAYLOADS = [
    ({"key": "k", "occurred_at": "2026-01-01T00:00:00Z"}, "Field required"),
    ({"name": "  ", "key": "k", "id": "x"}, "name must be a non-empty string"),
    ({"name": "n", "key": "k", "id": "x", "count": -1}, "greater than or equal to 0"),
    ({"name": "n", "key": "k", "id": "x", "count": "2"}, "valid integer"),
    ({"name": "n", "key": "k", "id": "x", "success": "yes"}, "valid boolean"),
    ({"name": "n", "id": "x"}, "give session_id, trace_id or key"),
    ({"name": "n", "key": "k"}, "give id or occurred_at"),
    ({"name": "n", "trace_id": "xyz", "id": "x"}, "should match pattern"),
    ({"name": "n", "key": "k", "occurred_at": "2026-01-01T00:00:00"}, "timezone info"),
    ({"name": "n", "key": "k", "occurred_at": "2199-01-01T00:00:00Z"}, "in the future"),
    ({"name": "n", "key": "k", "occurred_at": "2999-01-01T00:00:00Z"}, "up to 2200-01-01"),
    ({"name": "n", "key": "k", "occurred_at": "0001-01-01T00:00:00Z"}, "from 1970-01-01"),
    ({"name": "n", "key": "k", "id": "x", "sesion_id": "s"}, "Extra inputs"),
    ([], "the list of outcomes is empty"),
    ("ticket_resolved", "an outcome object or a list"),
]


@pytest.mark.parametrize(("payload", "message"), BAD_PAYLOADS)
def test_bad_outcomes_are_rejected_with_a_reason(
    served: ServerProcess, payload: Any, message: str
) -> None:
    response = post(served, payload)
    assert response.status_code == 422, response.text
    assert message in response.text


def test_one_bad_outcome_rejects_the_request(served: ServerProcess) -> None:
    key = unique("all-or-nothing")
    good = {"name": "draft_saved", "key": key, "id": unique("good")}
    response = post(served, [good, {**good, "id": unique("bad"), "count": 1.5}])
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", 1, "count"]
    not_json = httpx.post(
        f"{served.http_url}/api/v1/outcomes",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert not_json.status_code == 422 and "invalid JSON" in not_json.text
    assert post(served, good).json()["stored"] == 1  # nothing of the rejected request stayed


# --- warehouse: the SQL rules are the Python rules ------------------------------------

EDGE_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2**63 - 1, -(2**63), 10**9, 10**9 + 1, 3.0, 1.5, -0.0,
    float("nan"), float("inf"), "", " ", "\t", "3", " 3", "3 ", "2.0", "1e3", "+4", "-1",
    "1_000", "0x10", "nan", "inf", "true", "FALSE", "True ", "yes", "ticket_resolved",
    " padded ", "\ttabbed", "x" * 201, "x" * 513, "\N{DUCK}" * 201, "e\u0301" * 150,
    [1], {"a": 1},
]  # fmt: skip
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(EDGE_VALUES),
)
_ATTRIBUTES = st.fixed_dictionaries(
    {NAME_ATTRIBUTE: st.one_of(_VALUES, st.just("ticket_resolved"))},
    optional={
        COUNT_ATTRIBUTE: _VALUES,
        SUCCESS_ATTRIBUTE: _VALUES,
        KEY_ATTRIBUTE: _VALUES,
        FEATURE_ATTRIBUTE: _VALUES,
        ID_ATTRIBUTE: _VALUES,
    },
)


def _python_outcome(attributes: dict[str, Any], trace: bytes, span: bytes, n: int) -> Any:
    # What the SQL sees is the attributes as stored: JSON (so NaN and infinities are null).
    try:
        fields = parse_attributes(orjson.loads(orjson.dumps(attributes)))
    except OutcomeInvalid:
        return None
    if fields.client_id is not None:
        outcome_id = explicit_id(fields.client_id)
    else:
        outcome_id = span_event_id(trace, span, n)
    return (outcome_id, fields.name, fields.count, fields.success, fields.key, fields.feature,
            fields.client_id)  # fmt: skip


def _compare_extraction(database: Database, events: list[dict[str, Any]]) -> int:
    """Store one span with these outcome events, run the job's step over its batch, and
    check it stored what the Python rules say; returns how many outcomes were valid."""
    cursor = database.cursor()
    batch = cursor.execute("SELECT coalesce(max(batch_id), 0) + 1 FROM spans").fetchone()[0]
    trace, span = uuid.uuid4().bytes, uuid.uuid4().bytes[:8]
    columns = SpanColumns(Normalizer())
    event_list = [
        {"name": OUTCOME_EVENT, "time_unix_nano": SPAN_NS, "attributes": a} for a in events
    ]
    columns.add(
        trace, span, b"", "step", 1, SPAN_NS, SPAN_NS, 0, "", {}, event_list, [], None, {}, None
    )
    cursor.begin()
    insert_spans(cursor, columns.to_arrow(), batch, dt.datetime.now(dt.UTC))
    extract_outcomes(cursor, batch - 1, batch)
    cursor.commit()
    stored = cursor.execute(
        "SELECT outcome_id, name, count, success, business_key, feature, client_id "
        "FROM outcomes WHERE trace_id = ? AND span_id = ?",
        [trace, span],
    ).fetchall()
    expected: dict[str, list[Any]] = {}
    for n, attributes in enumerate(events):
        outcome = _python_outcome(attributes, trace, span, n)
        if outcome is not None:
            expected.setdefault(outcome[0], []).append(outcome)
    cursor.execute("DELETE FROM outcomes WHERE client_id IS NOT NULL")  # ids shared by examples
    cursor.close()
    assert sorted(row[0] for row in stored) == sorted(expected)
    for row in stored:  # events repeating an id: one of them is kept
        assert row in expected[row[0]]
    return len(stored)


def test_span_extraction_applies_the_python_rules_to_edge_cases(database: Database) -> None:
    events: list[dict[str, Any]] = [{NAME_ATTRIBUTE: value} for value in EDGE_VALUES]
    for attribute in (COUNT_ATTRIBUTE, SUCCESS_ATTRIBUTE, KEY_ATTRIBUTE, FEATURE_ATTRIBUTE):
        events += [{NAME_ATTRIBUTE: "ticket_resolved", attribute: v} for v in EDGE_VALUES]
    events += [{NAME_ATTRIBUTE: "draft_saved", ID_ATTRIBUTE: v} for v in EDGE_VALUES]
    valid = _compare_extraction(database, events)
    assert 40 < valid < len(events)  # both kinds are exercised


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=st.lists(_ATTRIBUTES, min_size=1, max_size=8))
def test_span_extraction_applies_the_python_rules(
    database: Database, events: list[dict[str, Any]]
) -> None:
    _compare_extraction(database, events)


def test_sequence_numbers_follow_commits(database: Database) -> None:
    cursor = database.cursor()
    rows = OutcomeRows()
    fields = parse_attributes({NAME_ATTRIBUTE: "draft_saved"})
    for n in range(3):
        rows.add(f"id-{n}", "api", fields, SPAN_NS + n, session_id="s")
    cursor.begin()
    assert insert_outcomes(cursor, rows.to_arrow(), dt.datetime.now(dt.UTC)) == {
        "id-0",
        "id-1",
        "id-2",
    }
    cursor.commit()
    assert cursor.execute("SELECT count(*) FROM outcomes WHERE seq IS NULL").fetchone() == (3,)
    cursor.begin()
    assert sequence_outcomes(cursor) == 3
    assert insert_outcomes(cursor, rows.to_arrow(), dt.datetime.now(dt.UTC)) == set()
    assert sequence_outcomes(cursor) == 0
    cursor.commit()
    seqs = cursor.execute("SELECT seq FROM outcomes ORDER BY outcome_id").fetchall()
    assert seqs == [(1,), (2,), (3,)]
    cursor.close()


def test_outcome_migration_goes_down_and_up(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    tables = "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'outcome%'"
    migrate.upgrade(path)
    migrate.downgrade(path, "0002")
    database = Database.open(path, run_migrations=False)
    assert database.cursor().execute(tables).fetchall() == []
    database.close()
    migrate.upgrade(path)
    database = Database.open(path, run_migrations=False)
    names = sorted(row[0] for row in database.cursor().execute(tables).fetchall())
    columns = (
        database.cursor()
        .execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'outcomes'")
        .fetchall()
    )
    database.close()
    assert names == ["outcome_key_links", "outcomes"]
    assert {"outcome_id", "seq", "name", "count", "success", "session_id", "trace_id"} <= {
        row[0] for row in columns
    }
