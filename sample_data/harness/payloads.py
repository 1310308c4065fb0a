"""Realistic OTLP trace exports of GenAI traffic, as protobuf or OTLP/JSON bodies.

Each trace is an agent run: an `invoke_agent` root that names the feature, session, user
and tenant (on most traces), a few `chat` model calls with the current GenAI attribute
names (provider, operation, request and response model, token counts with cache reads and
writes, finish reasons, server address), and a tool call. Spans carry about 15 attributes
on average; every resource has `service.name` and `deployment.environment`.

Bodies are built once per template, then stamped with a fresh 8-byte trace-id prefix per
request (`Template.body`), so every request has ids never sent before at the cost of one
`bytes.replace`: the ids are the only part that must differ between requests.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from sample_data.harness.otlp import key_values

AttributeValue = str | int | float | bool | list[str]

SERVICES = ("support-api", "search-api", "drafting-worker")
ENVIRONMENTS = ("production", "production", "staging")
FEATURES = ("support-agent", "search", "writing-assistant", "summarizer", "triage")
TENANTS = tuple(f"tenant-{n:03d}" for n in range(50))
MODELS = (
    ("openai", "gpt-4o", "gpt-4o-2024-08-06", "api.openai.com"),
    ("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "api.openai.com"),
    ("anthropic", "claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022", "api.anthropic.com"),
    ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku-20241022", "api.anthropic.com"),
    ("gcp.gemini", "gemini-2.0-flash", "gemini-2.0-flash-001", "generativelanguage.googleapis.com"),
)
TOOLS = ("lookup_order", "search_kb", "create_ticket", "fetch_invoice")
FINISH_REASONS = (["stop"], ["stop"], ["tool_calls"], ["length"])
CHAT_SPANS_PER_TRACE = (2, 3, 4)
NANOS = 1_000_000_000


@dataclass
class SpanSpec:
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, AttributeValue]
    status_code: int = 0


@dataclass
class ResourceSpec:
    attributes: dict[str, AttributeValue]
    spans: list[SpanSpec] = field(default_factory=list)


def _trace(rng: random.Random, marker: bytes, ids: random.Random, start_ns: int) -> list[SpanSpec]:
    """One agent run: root, chat calls, one tool call."""
    trace_id = marker + ids.randbytes(8)
    root_id = ids.randbytes(8)
    feature = rng.choice(FEATURES)
    session = f"sess-{rng.randrange(100_000):06d}"
    user = f"user-{rng.randrange(5_000):05d}"
    tenant = rng.choice(TENANTS)
    root_attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": feature.replace("-", "_"),
        "gen_ai.agent.id": f"agent-{rng.randrange(20)}",
        "spendscope.feature": feature,
        "session.id": session,
        "gen_ai.conversation.id": session,
        "gen_ai.agent.description": f"{feature} agent",
        "app.request.id": f"req_{ids.randbytes(6).hex()}",
        "http.route": f"/v1/{feature}",
    }
    if rng.random() < 0.8:  # some traces carry no user or tenant
        root_attributes["user.id"] = user
        root_attributes["spendscope.tenant"] = tenant
    spans: list[SpanSpec] = []
    cursor = start_ns
    total_in = total_out = 0
    for _ in range(rng.choice(CHAT_SPANS_PER_TRACE)):
        provider, request_model, response_model, host = rng.choice(MODELS)
        prompt = rng.randint(200, 8000)
        cache_read = rng.choice((0, 0, prompt // 2, prompt // 3))
        cache_write = rng.choice((0, 0, 0, 256))
        completion = rng.randint(20, 900)
        total_in += prompt
        total_out += completion
        duration = rng.randint(200, 4000) * 1_000_000
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": request_model,
            "gen_ai.response.model": response_model,
            "gen_ai.response.id": f"resp_{ids.randbytes(12).hex()}",
            "gen_ai.request.temperature": round(rng.random(), 2),
            "gen_ai.request.max_tokens": rng.choice((256, 1024, 4096)),
            "gen_ai.response.finish_reasons": rng.choice(FINISH_REASONS),
            "gen_ai.usage.input_tokens": prompt,
            "gen_ai.usage.output_tokens": completion,
            "gen_ai.usage.cache_read.input_tokens": cache_read,
            "gen_ai.usage.cache_creation.input_tokens": cache_write,
            "gen_ai.request.top_p": 1.0,
            "gen_ai.request.frequency_penalty": 0.0,
            "gen_ai.output.type": "text",
            "gen_ai.openai.response.system_fingerprint": "fp_50cad350e4",
            "server.address": host,
            "server.port": 443,
        }
        if rng.random() < 0.3:  # some instrumentations repeat the session on each call
            attributes["session.id"] = session
        spans.append(
            SpanSpec(
                trace_id,
                ids.randbytes(8),
                root_id,
                f"chat {request_model}",
                3,  # CLIENT
                cursor,
                cursor + duration,
                attributes,
            )
        )
        cursor += duration
        tool = rng.choice(TOOLS)
        tool_duration = rng.randint(5, 300) * 1_000_000
        spans.append(
            SpanSpec(
                trace_id,
                ids.randbytes(8),
                root_id,
                f"execute_tool {tool}",
                1,  # INTERNAL
                cursor,
                cursor + tool_duration,
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": tool,
                    "gen_ai.tool.call.id": f"call_{ids.randbytes(8).hex()}",
                    "gen_ai.tool.type": "function",
                    "session.id": session,
                    "code.function": f"tools.{tool}",
                    "code.namespace": "app.agent.tools",
                    "http.response.status_code": 200,
                    "tool.cached": rng.random() < 0.2,
                    "gen_ai.tool.description": f"{tool} from the backend",
                    "code.lineno": rng.randint(10, 400),
                    "thread.id": rng.randint(1, 64),
                    "thread.name": "ThreadPoolExecutor-0_0",
                },
                status_code=2 if rng.random() < 0.02 else 0,
            )
        )
        cursor += tool_duration
    root_attributes["gen_ai.usage.input_tokens"] = total_in
    root_attributes["gen_ai.usage.output_tokens"] = total_out
    root = SpanSpec(
        trace_id,
        root_id,
        b"",
        f"invoke_agent {feature}",
        2,  # SERVER
        start_ns,
        cursor + 1_000_000,
        root_attributes,
    )
    return [root, *spans]


def build_resources(span_count: int, seed: int, marker: bytes) -> list[ResourceSpec]:
    """About `span_count` spans (whole traces, trimmed to the exact count) over 3 services."""
    rng = random.Random(seed)
    ids = random.Random(seed ^ 0x5EED)
    resources = [
        ResourceSpec(
            {
                "service.name": service,
                "service.version": "1.4.2",
                "deployment.environment": environment,
                "telemetry.sdk.language": "python",
                "telemetry.sdk.name": "opentelemetry",
                "telemetry.sdk.version": "1.45.1",
            }
        )
        for service, environment in zip(SERVICES, ENVIRONMENTS, strict=True)
    ]
    now = time.time_ns() - 3600 * NANOS
    produced = 0
    index = 0
    while produced < span_count:
        spans = _trace(rng, marker, ids, now + index * 50_000_000)
        spans = spans[: span_count - produced]
        resources[index % len(resources)].spans.extend(spans)
        produced += len(spans)
        index += 1
    return resources


def to_protobuf(resources: list[ResourceSpec]) -> bytes:
    request = ExportTraceServiceRequest()
    for resource in resources:
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(key_values(resource.attributes))
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = "opentelemetry.instrumentation.openai_v2"
        scope_spans.scope.version = "2.1b0"
        for spec in resource.spans:
            span = scope_spans.spans.add()
            span.trace_id = spec.trace_id
            span.span_id = spec.span_id
            span.parent_span_id = spec.parent_span_id
            span.name = spec.name
            span.kind = spec.kind  # type: ignore[assignment]
            span.start_time_unix_nano = spec.start_ns
            span.end_time_unix_nano = spec.end_ns
            span.attributes.extend(key_values(spec.attributes))
            if spec.status_code:
                span.status.code = spec.status_code  # type: ignore[assignment]
                span.status.message = "tool failed"
    return request.SerializeToString()


def _json_value(value: AttributeValue) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # OTLP/JSON: 64-bit integers as strings
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    return {"arrayValue": {"values": [{"stringValue": item} for item in value]}}


def _json_attributes(attributes: dict[str, AttributeValue]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _json_value(value)} for key, value in attributes.items()]


def to_json(resources: list[ResourceSpec]) -> bytes:
    """OTLP/JSON as the OTel JSON exporters send it: hex ids, integers as strings."""
    payload = {
        "resourceSpans": [
            {
                "resource": {"attributes": _json_attributes(resource.attributes)},
                "scopeSpans": [
                    {
                        "scope": {
                            "name": "opentelemetry.instrumentation.openai_v2",
                            "version": "2.1b0",
                        },
                        "spans": [
                            {
                                "traceId": spec.trace_id.hex(),
                                "spanId": spec.span_id.hex(),
                                **(
                                    {"parentSpanId": spec.parent_span_id.hex()}
                                    if spec.parent_span_id
                                    else {}
                                ),
                                "name": spec.name,
                                "kind": spec.kind,
                                "startTimeUnixNano": str(spec.start_ns),
                                "endTimeUnixNano": str(spec.end_ns),
                                "attributes": _json_attributes(spec.attributes),
                                "status": (
                                    {"code": spec.status_code, "message": "tool failed"}
                                    if spec.status_code
                                    else {}
                                ),
                            }
                            for spec in resource.spans
                        ],
                    }
                ],
            }
            for resource in resources
        ]
    }
    return orjson.dumps(payload)


@dataclass(frozen=True)
class Template:
    """One export body whose trace ids all start with `marker`, ready to be re-stamped."""

    body: bytes
    marker: bytes
    spans: int
    attributes: int

    def stamp(self, prefix: bytes) -> bytes:
        """The body with every trace id's first 8 bytes replaced by `prefix` (8 bytes)."""
        return self.body.replace(self.marker, prefix)


def make_template(span_count: int, seed: int, *, json: bool) -> Template:
    """A request body of `span_count` spans; its marker occurs only in the trace ids."""
    while True:
        marker = os.urandom(8)
        if 0 in marker:  # keep ids clear of the zero byte (and of all-zero ids)
            continue
        resources = build_resources(span_count, seed, marker)
        body = to_json(resources) if json else to_protobuf(resources)
        needle = marker.hex().encode() if json else marker
        traces = {s.trace_id for r in resources for s in r.spans}
        if body.count(needle) == sum(len(r.spans) for r in resources) and len(traces) > 0:
            attributes = sum(len(s.attributes) for r in resources for s in r.spans)
            return Template(body, needle, span_count, attributes)


def request_prefix(run: int, client: int, request: int, *, json: bool) -> bytes:
    """A trace-id prefix unique to (run, client, request), in the body's encoding."""
    raw = bytes([0xB5, run & 0xFF, (run >> 8) & 0xFF, client & 0xFF]) + request.to_bytes(4, "big")
    return raw.hex().encode() if json else raw
