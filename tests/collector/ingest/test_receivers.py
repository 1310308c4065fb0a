"""The OTLP receivers against real clients: the OTel SDK exporters (HTTP protobuf, HTTP JSON,
gRPC; plain and gzip), raw httpx and gRPC calls, all talking to a running `spendscope serve`.

Records are read back through `GET /api/v1/spans`, metrics through `/metrics`. Span ids and
times are deterministic (`tests.support.otlp_clients`), so expected records are spelled out field by
field.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import functools
import gzip
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import orjson
import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.json.common.trace_encoder import (
    encode_spans as encode_json_spans,
)
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from sample_data.harness.server import SMALL_MAX_BODY_BYTES, ServerProcess, free_ports
from tests.support.otlp_clients import (
    EXPORTER_KINDS,
    UNCOMPRESSED_KINDS,
    at,
    grpc_export,
    make_exporter,
    metric,
    utc,
)
from tests.support.recording import CountingIds, SpanRecorder

pytestmark = pytest.mark.timeout(60)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MAX_BODY_BYTES = SMALL_MAX_BODY_BYTES  # the shared server's limit
INGEST_TOKENS = ("ingest-old", "ingest-secret")  # two: a rotation in progress
API_TOKEN = "api-secret"


# --- servers --------------------------------------------------------------------------------


@pytest.fixture
def server(shared_server: ServerProcess) -> ServerProcess:
    """A loopback server without tokens and with a 1 MiB body limit (see conftest)."""
    return shared_server


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that requires bearer tokens on ingest and on the API."""
    with ServerProcess(
        tmp_path_factory.mktemp("secured"),
        env={
            "SPENDSCOPE_INGEST_TOKENS": ",".join(INGEST_TOKENS),
            "SPENDSCOPE_API_TOKENS": API_TOKEN,
            # These tests never wait for attribution: keep the jobs from spinning meanwhile.
            "SPENDSCOPE_ATTRIBUTION_INTERVAL_SECONDS": "60",
        },
    ) as process:
        yield process
        assert_no_tracebacks(process)


def assert_no_tracebacks(server: ServerProcess, since: int = 0) -> None:
    """Whatever the tests sent, the server never logged an unhandled exception."""
    log = server.log_path.read_bytes()[since:].decode(errors="replace")
    assert "Traceback" not in log, log[-5000:]


@pytest.fixture
def ids(request: pytest.FixtureRequest) -> CountingIds:
    return CountingIds(request.node.nodeid)


def assert_alive(server: ServerProcess) -> None:
    assert server.process is not None and server.process.poll() is None, server.log_tail()
    assert server.get("/healthz").status_code == 200


def model_calls(server: ServerProcess, trace_id: str) -> list[dict[str, Any]]:
    response = server.get("/api/v1/spans", trace_id=trace_id)
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["spans"]
    for record in records:
        record["start_time"] = dt.datetime.fromisoformat(record["start_time"])
        record["end_time"] = dt.datetime.fromisoformat(record["end_time"])
    return records


# The normalized model-call fields these tests check, each of them; records may carry more
# (costs, for one), which other tests cover.
NORMALIZED_FIELDS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "service",
    "scope_name",
    "provider",
    "operation",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "reported_cost_usd",
    "feature",
    "session_id",
    "user_id",
    "tenant_id",
    "environment",
    "agent_name",
    "attributed",
    "start_time",
    "end_time",
    "duration_ms",
    "status_code",
    "status_message",
    "attributes",
)


def normalized(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{field: r.get(field, "<absent>") for field in NORMALIZED_FIELDS} for r in records]


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


def hex_span(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.span_id, "016x")


# --- a known trace ----------------------------------------------------------------------------

RESOURCE = {"service.name": "checkout", "deployment.environment.name": "staging"}
ROOT_DIMENSIONS = {
    "spendscope.feature": "support-agent",
    "session.id": "sess-0042",
    "user.id": "user-007",
    "spendscope.tenant": "acme",
}
OPENAI_EXTRA: dict[str, str | float | bool | tuple[str, ...]] = {
    "app.request_id": "req-42",
    "gen_ai.request.temperature": 0.25,
    "app.streaming": False,
    "app.tags": ("billing", "priority"),
}


@dataclass(frozen=True)
class AgentTrace:
    """An agent run: an `invoke_agent` root carrying the dimensions and rolled-up usage,
    two model calls in two attribute conventions, and a tool call."""

    root: ReadableSpan
    openai_call: ReadableSpan
    tool_call: ReadableSpan
    anthropic_call: ReadableSpan

    @property
    def spans(self) -> list[ReadableSpan]:
        return [self.openai_call, self.tool_call, self.anthropic_call, self.root]

    @property
    def children(self) -> list[ReadableSpan]:
        return [self.openai_call, self.tool_call, self.anthropic_call]

    @property
    def trace_id(self) -> str:
        return hex_trace(self.root)


def agent_trace(ids: CountingIds) -> AgentTrace:
    recorder = SpanRecorder()
    provider = TracerProvider(resource=Resource.create(RESOURCE), id_generator=ids)
    provider.add_span_processor(recorder)
    tracer = provider.get_tracer("checkout.agent", "1.2.0")
    root = tracer.start_span(
        "invoke_agent support",
        context=Context(),
        start_time=at(0),
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support",
            **ROOT_DIMENSIONS,
            # Roll-up usage of the calls below: must never be counted as a call itself.
            "gen_ai.usage.input_tokens": 2900,
            "gen_ai.usage.output_tokens": 650,
        },
    )
    inside = trace.set_span_in_context(root)
    openai_call = tracer.start_span(
        "chat gpt-4o",
        context=inside,
        kind=SpanKind.CLIENT,
        start_time=at(1000),
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 2000,
            "gen_ai.usage.cache_read.input_tokens": 1200,
            "gen_ai.usage.cache_write.input_tokens": 300,
            "gen_ai.usage.output_tokens": 500,
            "gen_ai.usage.reasoning.output_tokens": 128,
            "gen_ai.usage.cost": 0.0123,
            **OPENAI_EXTRA,
        },
    )
    openai_call.set_status(Status(StatusCode.OK))
    openai_call.end(end_time=at(2500))
    tool_call = tracer.start_span(
        "execute_tool lookup_order",
        context=inside,
        start_time=at(2600),
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order"},
    )
    tool_call.end(end_time=at(2700))
    anthropic_call = tracer.start_span(
        "anthropic.chat",
        context=inside,
        kind=SpanKind.CLIENT,
        start_time=at(3000),
        attributes={  # older OpenLLMetry names
            "gen_ai.system": "Anthropic",
            "llm.request.type": "chat",
            "gen_ai.request.model": "claude-3-5-haiku-latest",
            "gen_ai.usage.prompt_tokens": 900,
            "gen_ai.usage.completion_tokens": 150,
        },
    )
    anthropic_call.set_status(Status(StatusCode.ERROR, "overloaded"))
    anthropic_call.end(end_time=at(4200))
    root.end(end_time=at(5000))
    provider.shutdown()
    by_name = {span.name: span for span in recorder.spans}
    return AgentTrace(
        root=by_name["invoke_agent support"],
        openai_call=by_name["chat gpt-4o"],
        tool_call=by_name["execute_tool lookup_order"],
        anthropic_call=by_name["anthropic.chat"],
    )


def expected_calls(agent: AgentTrace) -> list[dict[str, Any]]:
    """The two model calls as the API must return them once attributed."""

    def common(span: ReadableSpan) -> dict[str, Any]:
        assert span.start_time is not None and span.end_time is not None
        return {
            "trace_id": agent.trace_id,
            "span_id": hex_span(span),
            "parent_span_id": hex_span(agent.root),
            "name": span.name,
            "service": "checkout",
            "scope_name": "checkout.agent",
            "operation": "chat",
            "feature": "support-agent",
            "session_id": "sess-0042",
            "user_id": "user-007",
            "tenant_id": "acme",
            "environment": "staging",
            "agent_name": "support",
            "attributed": True,
            "start_time": utc(span.start_time),
            "end_time": utc(span.end_time),
            "duration_ms": (span.end_time - span.start_time) / 1e6,
        }

    return [
        {
            **common(agent.openai_call),
            "provider": "openai",
            "request_model": "gpt-4o",
            "response_model": "gpt-4o-2024-08-06",
            "input_tokens": 2000,
            "output_tokens": 500,
            "cache_read_tokens": 1200,
            "cache_write_tokens": 300,
            "reasoning_tokens": 128,
            "reported_cost_usd": "0.0123",
            "status_code": 1,
            "status_message": None,
            # Unmapped attributes are kept, typed; the provider as sent stays too.
            "attributes": {
                "gen_ai.provider.name": "openai",
                **OPENAI_EXTRA,
                "app.tags": ["billing", "priority"],
            },
        },
        {
            **common(agent.anthropic_call),
            "provider": "anthropic",
            "request_model": "claude-3-5-haiku-latest",
            "response_model": None,
            "input_tokens": 900,
            "output_tokens": 150,
            "cache_read_tokens": None,
            "cache_write_tokens": None,
            "reasoning_tokens": None,
            "reported_cost_usd": None,
            "status_code": 2,
            "status_message": "overloaded",
            "attributes": {"gen_ai.system": "Anthropic"},
        },
    ]


# --- the SDK exporters -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", EXPORTER_KINDS)
def test_sdk_exporter_round_trip(server: ServerProcess, ids: CountingIds, kind: str) -> None:
    agent = agent_trace(ids)
    written = metric(server, "spendscope_spans_written_total")
    exporter = make_exporter(kind, server)
    try:
        assert exporter.export(agent.spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert metric(server, "spendscope_spans_written_total") - written == 4
    server.wait_attributed()
    assert normalized(model_calls(server, agent.trace_id)) == expected_calls(agent)


# --- bearer tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["argument", "environment"])
@pytest.mark.parametrize("kind", UNCOMPRESSED_KINDS)
def test_exporters_send_the_ingest_token(
    secured: ServerProcess,
    ids: CountingIds,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    source: str,
) -> None:
    agent = agent_trace(ids)
    headers: dict[str, str] | None
    if source == "argument":  # HTTP headers, or gRPC metadata (lower case there)
        headers = {"authorization": f"Bearer {INGEST_TOKENS[1]}"}
    else:  # as docs/ingest.md tells users to set it
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer {INGEST_TOKENS[1]}")
        headers = None
    exporter = make_exporter(kind, secured, headers)
    try:
        assert exporter.export(agent.spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert len(model_calls(secured, agent.trace_id)) == 2


@pytest.mark.parametrize("token", [None, "wrong"], ids=["none", "wrong"])
@pytest.mark.parametrize("kind", UNCOMPRESSED_KINDS)
def test_exporters_without_the_ingest_token_store_nothing(
    secured: ServerProcess, ids: CountingIds, kind: str, token: str | None
) -> None:
    agent = agent_trace(ids)
    refused = {"transport": "grpc" if kind == "grpc" else "http", "outcome": "unauthenticated"}
    before = metric(secured, "spendscope_ingest_requests_total", **refused)
    written = metric(secured, "spendscope_spans_written_total")
    headers = {"authorization": f"Bearer {token}"} if token else {}
    exporter = make_exporter(kind, secured, headers)
    try:
        assert exporter.export(agent.spans) is SpanExportResult.FAILURE
    finally:
        exporter.shutdown()
    # Refused once, not retried (401 / UNAUTHENTICATED are permanent), and nothing stored.
    assert metric(secured, "spendscope_ingest_requests_total", **refused) - before == 1
    assert metric(secured, "spendscope_spans_written_total") == written
    assert model_calls(secured, agent.trace_id) == []


def test_ingest_token_rotation_accepts_every_configured_token(
    secured: ServerProcess, ids: CountingIds
) -> None:
    agent = agent_trace(ids)
    exporter = make_exporter("http-protobuf", secured, {"authorization": "Bearer ingest-old"})
    try:
        assert exporter.export(agent.spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert len(model_calls(secured, agent.trace_id)) == 2


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_unauthenticated_http_gets_401_with_a_status_body(
    secured: ServerProcess, ids: CountingIds, content_type: str
) -> None:
    agent = agent_trace(ids)
    body = (
        encode_spans(agent.spans).SerializeToString()
        if content_type == PROTOBUF
        else json_body(agent.spans)
    )
    url = f"{secured.http_url}/v1/traces"
    for headers in (
        {},
        {"authorization": "Bearer nope"},
        {"authorization": f"Bearer {API_TOKEN}"},  # tokens are per surface
        {"authorization": f"Basic {INGEST_TOKENS[1]}"},
    ):
        response = secured.client.post(
            url, content=body, headers={"content-type": content_type, **headers}
        )
        assert response.status_code == 401
        assert response.headers["content-type"] == content_type
        assert parse_status(response).code == code_pb2.UNAUTHENTICATED
    assert model_calls(secured, agent.trace_id) == []
    ok = secured.client.post(
        url,
        content=body,
        headers={"content-type": content_type, "authorization": f"bearer {INGEST_TOKENS[0]}"},
    )
    assert ok.status_code == 200
    assert len(model_calls(secured, agent.trace_id)) == 2


def test_unauthenticated_grpc_gets_unauthenticated(
    secured: ServerProcess, ids: CountingIds
) -> None:
    agent = agent_trace(ids)
    body = encode_spans(agent.spans).SerializeToString()
    for metadata in ((), (("authorization", "Bearer nope"),)):
        with pytest.raises(grpc.RpcError) as failure:
            grpc_export(secured, body, metadata)
        assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert model_calls(secured, agent.trace_id) == []
    grpc_export(secured, body, (("authorization", f"Bearer {INGEST_TOKENS[1]}"),))
    assert len(model_calls(secured, agent.trace_id)) == 2


def test_api_requires_the_api_token(secured: ServerProcess) -> None:
    path = "/api/v1/spans"
    for headers in (
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": f"Bearer {INGEST_TOKENS[1]}"},  # tokens are per surface
        {"authorization": API_TOKEN},  # no scheme
    ):
        response = secured.get(path, headers=headers, session_id="sess-0042")
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert secured.get("/api/v1/jobs", headers=headers).status_code == 401
    assert secured.get(path, session_id="sess-0042").status_code == 200
    lower_case = {"authorization": f"bearer {API_TOKEN}"}
    assert secured.get(path, headers=lower_case, session_id="sess-0042").status_code == 200


def serve_command_env(data_dir: Path, **settings: str) -> dict[str, str]:
    http_port, grpc_port = free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}
    return {
        **env,
        "SPENDSCOPE_DATA_DIR": str(data_dir),
        "SPENDSCOPE_HTTP_PORT": str(http_port),
        "SPENDSCOPE_GRPC_PORT": str(grpc_port),
        **settings,
    }


@pytest.mark.parametrize(
    "tokens",
    [
        {},
        {"SPENDSCOPE_INGEST_TOKENS": "ingest"},
        {"SPENDSCOPE_API_TOKENS": "api", "SPENDSCOPE_TENANT_TOKENS": "acme:tenant"},
    ],
    ids=["none", "ingest-only", "api-only"],
)
def test_public_bind_without_tokens_refuses_to_start(
    tmp_path: Path, tokens: dict[str, str]
) -> None:
    env = serve_command_env(tmp_path, SPENDSCOPE_HOST="0.0.0.0", **tokens)
    result = subprocess.run(
        [sys.executable, "-m", "collector", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "refusing to listen on 0.0.0.0" in result.stderr
    assert "SPENDSCOPE_INGEST_TOKENS and SPENDSCOPE_API_TOKENS" in result.stderr
    assert "SPENDSCOPE_ALLOW_UNAUTHENTICATED_PUBLIC=true" in result.stderr
    assert not (tmp_path / "spendscope.duckdb").exists()  # refused before touching anything


def _ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# The IPv6 wildcard also covers bracketing: gRPC could not bind "::" + ":4317" (the server
# did not start at all) until the receiver wrote "[::]:4317".
PUBLIC_HOST = "::" if _ipv6_available() else "0.0.0.0"


def test_public_bind_starts_with_explicit_opt_in(tmp_path: Path, ids: CountingIds) -> None:
    env = {"SPENDSCOPE_HOST": PUBLIC_HOST, "SPENDSCOPE_ALLOW_UNAUTHENTICATED_PUBLIC": "true"}
    with ServerProcess(tmp_path, env=env) as public:
        agent = agent_trace(ids)
        for kind, spans in (("grpc", agent.children), ("http-protobuf", [agent.root])):
            exporter = make_exporter(kind, public)
            try:
                assert exporter.export(spans) is SpanExportResult.SUCCESS, kind
            finally:
                exporter.shutdown()
        public.wait_attributed()
        assert normalized(model_calls(public, agent.trace_id)) == expected_calls(agent)


# --- exactly once -------------------------------------------------------------------------------


def test_same_protobuf_body_twice_is_stored_once(server: ServerProcess, ids: CountingIds) -> None:
    agent = agent_trace(ids)
    body = encode_spans(agent.spans).SerializeToString()
    url, headers = f"{server.http_url}/v1/traces", {"content-type": PROTOBUF}
    written = metric(server, "spendscope_spans_written_total")
    duplicates = metric(server, "spendscope_spans_duplicate_total")

    assert server.client.post(url, content=body, headers=headers).status_code == 200
    assert metric(server, "spendscope_spans_written_total") - written == 4
    assert metric(server, "spendscope_spans_duplicate_total") == duplicates

    # A retry of the same export, then four at once (they may share one group commit).
    assert server.client.post(url, content=body, headers=headers).status_code == 200
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        responses = list(
            pool.map(lambda _: server.client.post(url, content=body, headers=headers), range(4))
        )
    assert [r.status_code for r in responses] == [200] * 4
    assert metric(server, "spendscope_spans_written_total") - written == 4
    assert metric(server, "spendscope_spans_duplicate_total") - duplicates == 5 * 4
    assert len(model_calls(server, agent.trace_id)) == 2


@pytest.mark.parametrize("kind", UNCOMPRESSED_KINDS)
def test_sdk_reexport_of_the_same_spans_is_stored_once(
    server: ServerProcess, ids: CountingIds, kind: str
) -> None:
    agent = agent_trace(ids)
    written = metric(server, "spendscope_spans_written_total")
    duplicates = metric(server, "spendscope_spans_duplicate_total")
    exporter = make_exporter(kind, server)
    try:
        assert exporter.export(agent.spans) is SpanExportResult.SUCCESS
        assert exporter.export(agent.spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert metric(server, "spendscope_spans_written_total") - written == 4
    assert metric(server, "spendscope_spans_duplicate_total") - duplicates == 4
    assert len(model_calls(server, agent.trace_id)) == 2


# --- attribution when the root arrives last -----------------------------------------------------


def test_children_take_the_root_dimensions_when_it_arrives_last(
    server: ServerProcess, ids: CountingIds
) -> None:
    agent = agent_trace(ids)
    exporter = make_exporter("http-protobuf", server)
    try:
        assert exporter.export(agent.children) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    server.wait_attributed()
    early = model_calls(server, agent.trace_id)
    assert [r["span_id"] for r in early] == [r["span_id"] for r in expected_calls(agent)]
    for record in early:  # only their own dimensions so far (environment is on the resource)
        assert record["environment"] == "staging"
        dimensions = ("feature", "session_id", "user_id", "tenant_id", "agent_name")
        assert [record[d] for d in dimensions] == [None] * 5

    # The root, separately and over the other transport.
    exporter = make_exporter("grpc", server)
    try:
        assert exporter.export([agent.root]) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    server.wait_attributed()
    late = model_calls(server, agent.trace_id)
    assert normalized(late) == expected_calls(agent)
    # The invoke_agent root carries rolled-up usage but is not a model call.
    assert hex_span(agent.root) not in {r["span_id"] for r in late}


# --- HTTP protocol details (raw httpx) ----------------------------------------------------------

GOOD_TRACE = "5a" * 16


def kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    return KeyValue(key=key, value=AnyValue(int_value=value))


def proto_span(trace_id: bytes, span_id: bytes, input_tokens: int = 100) -> ProtoSpan:
    return ProtoSpan(
        trace_id=trace_id,
        span_id=span_id,
        name="chat gpt-4o-mini",
        start_time_unix_nano=at(0),
        end_time_unix_nano=at(700),
        attributes=[
            kv("gen_ai.operation.name", "chat"),
            kv("gen_ai.request.model", "gpt-4o-mini"),
            kv("gen_ai.usage.input_tokens", input_tokens),
            kv("gen_ai.usage.output_tokens", 7),
        ],
    )


def proto_body(*spans: ProtoSpan) -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(kv("service.name", "raw"))
    resource_spans.scope_spans.add().spans.extend(spans)
    return request.SerializeToString()


def json_span(trace_id: str, span_id: str, input_tokens: int = 100) -> dict[str, Any]:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": str(at(0)),
        "endTimeUnixNano": str(at(700)),
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(input_tokens)}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 7}},
        ],
    }


def json_request(*spans: dict[str, Any]) -> bytes:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "raw"}}]}
    return orjson.dumps(
        {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": list(spans)}]}]}
    )


def json_body(spans: list[ReadableSpan]) -> bytes:
    """What the SDK's OTLP/JSON exporter sends for these spans."""
    return encode_json_spans(spans).to_json().encode()


def parse_status(response: httpx.Response) -> status_pb2.Status:
    """A failure body: google.rpc.Status in the response's content type."""
    status = status_pb2.Status()
    if response.headers["content-type"] == JSON:
        json_format.Parse(response.text, status)
    else:
        assert response.headers["content-type"] == PROTOBUF
        status.ParseFromString(response.content)
    assert status.message
    return status


def parse_export_response(response: httpx.Response) -> ExportTraceServiceResponse:
    parsed = ExportTraceServiceResponse()
    if response.headers["content-type"] == JSON:
        json_format.Parse(response.text, parsed)
    else:
        assert response.headers["content-type"] == PROTOBUF
        parsed.ParseFromString(response.content)
    return parsed


def post(
    server: ServerProcess,
    body: bytes | Iterator[bytes],
    content_type: str,
    encoding: str | None = None,
) -> httpx.Response:
    headers = {"content-type": content_type}
    if encoding is not None:
        headers["content-encoding"] = encoding
    return server.client.post(
        f"{server.http_url}/v1/traces", content=body, headers=headers, timeout=30
    )


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_response_content_type_follows_the_request(
    server: ServerProcess, ids: CountingIds, content_type: str
) -> None:
    agent = agent_trace(ids)
    if content_type == PROTOBUF:
        body = encode_spans(agent.spans).SerializeToString()
    else:
        body = json_body(agent.spans)
    response = post(server, body, f"{content_type}; charset=utf-8")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert not parse_export_response(response).HasField("partial_success")
    empty = post(server, b"" if content_type == PROTOBUF else b"{}", content_type)
    assert empty.status_code == 200  # an empty export is a success
    assert empty.headers["content-type"] == content_type
    assert len(model_calls(server, agent.trace_id)) == 2


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_partial_success_stores_the_good_spans(
    server: ServerProcess, ids: CountingIds, content_type: str
) -> None:
    trace_hex = format(ids.generate_trace_id(), "032x")
    good = ["01" * 8, "02" * 8]
    if content_type == PROTOBUF:
        trace_id = bytes.fromhex(trace_hex)
        body = proto_body(
            proto_span(trace_id, bytes.fromhex(good[0])),
            proto_span(bytes(16), bytes.fromhex("03" * 8)),  # all-zero trace id
            proto_span(trace_id, b"\x04" * 7),  # 7-byte span id
            proto_span(trace_id, bytes.fromhex("05" * 8), input_tokens=-5),
            proto_span(trace_id, bytes.fromhex(good[1])),
        )
    else:
        body = json_request(
            json_span(trace_hex, good[0]),
            json_span("0" * 32, "03" * 8),
            json_span(trace_hex, "zz" * 8),  # not hex
            json_span(trace_hex, "05" * 8, input_tokens=-5),
            json_span(trace_hex, good[1]),
        )
    rejected = metric(server, "spendscope_spans_rejected_total")
    response = post(server, body, content_type)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    partial = parse_export_response(response).partial_success
    assert partial.rejected_spans == 3
    assert "trace_id must be 16 bytes" in partial.error_message
    assert "negative" in partial.error_message
    assert metric(server, "spendscope_spans_rejected_total") - rejected == 3
    stored = model_calls(server, trace_hex)
    assert [r["span_id"] for r in stored] == good
    assert [r["input_tokens"] for r in stored] == [100, 100]


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_all_spans_rejected_is_400(
    server: ServerProcess, ids: CountingIds, content_type: str
) -> None:
    trace_hex = format(ids.generate_trace_id(), "032x")
    if content_type == PROTOBUF:
        body = proto_body(proto_span(bytes.fromhex(trace_hex), b"\x01" * 8, input_tokens=-1))
    else:
        body = json_request(json_span(trace_hex, "01" * 8, input_tokens=-1))
    response = post(server, body, content_type)
    assert response.status_code == 400
    status = parse_status(response)
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert "negative" in status.message
    assert model_calls(server, trace_hex) == []
    assert_alive(server)


VALID_PROTOBUF = proto_body(proto_span(bytes.fromhex(GOOD_TRACE), b"\x01" * 8))
UNDECODABLE = [
    pytest.param(PROTOBUF, None, b"\xff\xff\xff\xff", id="protobuf-garbage"),
    pytest.param(PROTOBUF, None, VALID_PROTOBUF[:-3], id="protobuf-truncated"),
    pytest.param(JSON, None, b'{"resourceSpans": [', id="json-truncated"),
    pytest.param(JSON, None, b"[]", id="json-not-an-object"),
    pytest.param(JSON, None, b'{"resourceSpans": {}}', id="json-wrong-shape"),
    pytest.param(PROTOBUF, "gzip", VALID_PROTOBUF, id="gzip-not-gzip"),
    pytest.param(PROTOBUF, "gzip", gzip.compress(VALID_PROTOBUF)[:-12], id="gzip-truncated"),
]


@pytest.mark.parametrize(("content_type", "encoding", "body"), UNDECODABLE)
def test_undecodable_body_is_400_with_a_status(
    server: ServerProcess, content_type: str, encoding: str | None, body: bytes
) -> None:
    written = metric(server, "spendscope_spans_written_total")
    response = post(server, body, content_type, encoding)
    assert response.status_code == 400, response.content
    assert response.headers["content-type"] == content_type
    assert parse_status(response).code == code_pb2.INVALID_ARGUMENT
    assert metric(server, "spendscope_spans_written_total") == written
    assert_alive(server)


@functools.cache
def gzip_bomb() -> bytes:
    """100 MB of zeros, compressed to about 450 kB: below the body limit on the wire."""
    bomb = gzip.compress(bytes(100 * 1024 * 1024), compresslevel=1)
    assert len(bomb) < MAX_BODY_BYTES
    return bomb


def oversized_chunks() -> Iterator[bytes]:
    """A body without Content-Length (chunked), larger than the limit."""
    for _ in range(24):
        yield bytes(100 * 1024)


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
@pytest.mark.parametrize("case", ["gzip-bomb", "content-length", "chunked"])
def test_oversized_body_is_413(server: ServerProcess, content_type: str, case: str) -> None:
    too_large = metric(server, "spendscope_ingest_requests_total", outcome="too_large")
    if case == "gzip-bomb":
        response = post(server, gzip_bomb(), content_type, "gzip")
    elif case == "content-length":
        response = post(server, bytes(MAX_BODY_BYTES + 1), content_type)
    else:
        response = post(server, oversized_chunks(), content_type)
    assert response.status_code == 413
    assert response.headers["content-type"] == content_type
    assert str(MAX_BODY_BYTES) in parse_status(response).message
    assert metric(server, "spendscope_ingest_requests_total", outcome="too_large") > too_large
    assert_alive(server)


def test_body_at_the_limit_is_accepted(server: ServerProcess, ids: CountingIds) -> None:
    """The limit is inclusive, compressed or not: padding fills the body to exactly the limit."""
    trace_id = ids.generate_trace_id().to_bytes(16, "big")
    span = proto_span(trace_id, b"\x01" * 8)
    span.attributes.append(kv("padding", ""))
    padding = span.attributes[-1].value
    for _ in range(5):  # length prefixes grow with the padding: converge on the exact size
        size = len(proto_body(span))
        padding.string_value = "x" * (len(padding.string_value) + MAX_BODY_BYTES - size)
    body = proto_body(span)
    assert len(body) == MAX_BODY_BYTES
    assert post(server, body, PROTOBUF).status_code == 200
    assert post(server, gzip.compress(body), PROTOBUF, "gzip").status_code == 200
    assert len(model_calls(server, trace_id.hex())) == 1


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [("text/plain", None), ("", None), ("application/protobuf+xml", None), (PROTOBUF, "br")],
)
def test_unsupported_media_type_is_415(
    server: ServerProcess, content_type: str, encoding: str | None
) -> None:
    response = post(server, VALID_PROTOBUF, content_type, encoding)
    assert response.status_code == 415
    status = parse_status(response)
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert model_calls(server, GOOD_TRACE) == []
    assert_alive(server)


def test_client_hanging_up_mid_body_is_counted_not_an_error(server: ServerProcess) -> None:
    outcome = {"transport": "http", "outcome": "client_disconnected"}
    before = metric(server, "spendscope_ingest_requests_total", **outcome)
    log_size = server.log_path.stat().st_size
    with socket.create_connection(("127.0.0.1", server.http_port)) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: application/x-protobuf\r\nContent-Length: 50000\r\n\r\n"
            + VALID_PROTOBUF
        )
    deadline = time.monotonic() + 10
    while metric(server, "spendscope_ingest_requests_total", **outcome) == before:
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.05)
    assert_no_tracebacks(server, since=log_size)
    assert_alive(server)


# --- gRPC protocol details (raw calls) ----------------------------------------------------------


def test_grpc_partial_success_and_invalid_argument(server: ServerProcess, ids: CountingIds) -> None:
    trace_id = ids.generate_trace_id().to_bytes(16, "big")
    response = grpc_export(
        server,
        proto_body(
            proto_span(trace_id, b"\x01" * 8),
            proto_span(trace_id, b"\x02" * 8, input_tokens=-3),
        ),
    )
    assert response.partial_success.rejected_spans == 1
    assert "negative" in response.partial_success.error_message
    assert [r["span_id"] for r in model_calls(server, trace_id.hex())] == ["01" * 8]

    for body in (b"\xff\xff\xff\xff", proto_body(proto_span(bytes(16), b"\x01" * 8))):
        with pytest.raises(grpc.RpcError) as failure:
            grpc_export(server, body)
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bomb = ExportTraceServiceRequest()
    bomb.resource_spans.add().scope_spans.add().spans.add(name="\0" * (16 * MAX_BODY_BYTES))
    for body, compression in (
        (bytes(MAX_BODY_BYTES + 1), grpc.Compression.NoCompression),
        (bomb.SerializeToString(), grpc.Compression.Gzip),  # about 16 kB on the wire
    ):
        with pytest.raises(grpc.RpcError) as failure:
            grpc_export(server, body, compression=compression)
        assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert_alive(server)
