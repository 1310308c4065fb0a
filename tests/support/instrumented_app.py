"""A tiny instrumented application, run in its own process by tests/e2e/test_instrumentations.py.

    python -m tests.support.instrumented_app openllmetry|openinference OPENAI_BASE_URL \\
        EXPORTER_KIND HTTP_URL GRPC_ENDPOINT NAMESPACE

It instruments the `openai` client with the chosen instrumentation, answers one support ticket
(a chat completion and an embedding under a root span naming the feature, session, user and
tenant), exports the finished spans with the SDK exporter EXPORTER_KIND and prints what the
test needs to know as one JSON line.

Why a process of its own: instrumentors patch `openai` globally, and OpenLLMetry 0.62.4 cannot
take its patches off again here (its `_uninstrument` calls `unwrap("openai.resources.chat.
completions", "Completions.create")`, a form that opentelemetry-instrumentation 0.66b1's
`unwrap` resolves to nothing), so an in-process test would leak its spans into the next one.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import openai
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from tests.support.otlp_clients import make_exporter
from tests.support.recording import CountingIds, SpanRecorder

RESOURCE = {"service.name": "helpdesk", "deployment.environment.name": "production"}
ROOT_DIMENSIONS = {
    "spendscope.feature": "support-reply",
    "session.id": "sess-0907",
    "user.id": "user-031",
    "spendscope.tenant": "globex",
}


@dataclass(frozen=True)
class Target:
    http_url: str
    grpc_endpoint: str


def instrumentor(name: str) -> Any:
    if name == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        return OpenAIInstrumentor()
    if name == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OIInstrumentor

        return OIInstrumentor()
    raise SystemExit(f"unknown instrumentation {name!r}")


def answer_ticket(provider: TracerProvider, base_url: str) -> dict[str, Any]:
    """The application's work; returns what the openai client made of the answers."""
    api = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0, timeout=10)
    tracer = provider.get_tracer("helpdesk")
    with tracer.start_as_current_span("answer_ticket", attributes=ROOT_DIMENSIONS) as root:
        chat = api.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Where is order 1234?"}]
        )
        embeddings = api.embeddings.create(
            model="text-embedding-3-small", input=["refund policy", "shipping times"]
        )
    usage = chat.usage
    context = root.get_span_context()
    return {
        "trace_id": format(context.trace_id, "032x"),
        "root_span_id": format(context.span_id, "016x"),
        "chat_model": chat.model,
        "cached_tokens": (
            usage.prompt_tokens_details.cached_tokens
            if usage and usage.prompt_tokens_details
            else None
        ),
        "embedding": list(embeddings.data[1].embedding),
    }


def main(argv: list[str]) -> int:
    name, base_url, exporter_kind, http_url, grpc_endpoint, namespace = argv
    recorder = SpanRecorder()
    provider = TracerProvider(
        resource=Resource.create(RESOURCE), id_generator=CountingIds(namespace)
    )
    provider.add_span_processor(recorder)
    patcher = instrumentor(name)
    patcher.instrument(tracer_provider=provider)
    try:
        facts = answer_ticket(provider, base_url)
    finally:
        patcher.uninstrument()
    exporter = make_exporter(exporter_kind, Target(http_url, grpc_endpoint))
    try:
        result = exporter.export(recorder.spans)
    finally:
        exporter.shutdown()
    facts["export"] = result.name
    facts["spans"] = sorted(span.name for span in recorder.spans)
    print(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
