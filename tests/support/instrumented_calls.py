"""Real instrumentations over the real `openai` and `anthropic` clients (and LangChain's
ChatOpenAI over `openai`), run in a process of their own by tests/e2e/test_billed_as_priced.py.

    python -m tests.support.instrumented_calls openllmetry|openinference|openlit STUB_URL \\
        HTTP_URL NAMESPACE SCENARIO...

Each scenario of tests/support/scenarios.py is one call, under a root span of its own
(so one trace per call), made streamed or not as the scenario says. The finished spans go to
spendscope through the OTel SDK's OTLP/HTTP protobuf exporter; the last line printed is JSON:
{"traces": {scenario: trace_id}, "answers": {scenario: text}, "export": result}.

A process of its own because instrumentors patch the clients globally and OpenLLMetry's
patches cannot be taken off again (tests/support/instrumented_app.py says why). OpenLIT runs
with `.venv-openlit/bin/python` (openlit 1.45.0 requires openai<3 and anthropic<1, beside the
project's openai 3 and anthropic 2; requirements-openlit.in), so this module and what it
imports need only that venv: the clients, the OTel SDK and its OTLP/HTTP exporter.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import anthropic
import openai
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from tests.support.recording import CountingIds, SpanRecorder
from tests.support.scenarios import SCENARIO_HEADER, SCENARIOS, Scenario

RESOURCE = {"service.name": "billing-check", "deployment.environment.name": "test"}
PROMPT = "Where is order 1234?"


def instrumentors(name: str) -> list[Any]:
    if name == "openllmetry":
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        return [OpenAIInstrumentor(), AnthropicInstrumentor()]
    if name == "openinference":
        from openinference.instrumentation.anthropic import (
            AnthropicInstrumentor as OIAnthropicInstrumentor,
        )
        from openinference.instrumentation.langchain import LangChainInstrumentor
        from openinference.instrumentation.openai import OpenAIInstrumentor as OIInstrumentor

        return [OIInstrumentor(), OIAnthropicInstrumentor(), LangChainInstrumentor()]
    raise SystemExit(f"unknown instrumentation {name!r}")


def instrument(name: str, provider: TracerProvider, scratch: Path) -> None:
    """Patches the clients with the instrumentation `name`, its spans going to `provider`."""
    if name != "openlit":
        for patcher in instrumentors(name):
            patcher.instrument(tracer_provider=provider)
        return
    import openlit

    # OpenLIT takes no provider: it reuses the global one when it is the SDK's
    # (openlit/otel/tracing.py, setup_tracing). It prices with a JSON it downloads from
    # GitHub unless given a file: an empty one here (its gen_ai.usage.cost is then 0, as
    # offline). Its other defaults stay, the httpx and requests instrumentations included.
    trace.set_tracer_provider(provider)
    pricing = scratch / "openlit-pricing.json"
    pricing.write_text("{}")
    openlit.init(pricing_json=str(pricing), disable_metrics=True, disable_events=True)


def call_openai(scenario: Scenario, stub_url: str) -> str:
    api = openai.OpenAI(
        base_url=f"{stub_url}/v1",
        api_key="sk-test",
        max_retries=0,
        timeout=10,
        default_headers={SCENARIO_HEADER: scenario.name},
    )
    tier: Any = scenario.request_tier
    if scenario.api == "responses":
        if not scenario.stream:
            return api.responses.create(model="gpt-5", input=PROMPT, service_tier=tier).output_text
        events = api.responses.create(model="gpt-5", input=PROMPT, service_tier=tier, stream=True)
        return "".join(e.delta for e in events if e.type == "response.output_text.delta")
    model = scenario.model.split("-20")[0]  # the alias an application asks for
    messages: Any = [{"role": "user", "content": PROMPT}]
    extra: dict[str, Any] = {}
    if model == "gpt-audio":
        extra = {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}
    if not scenario.stream:
        chat = api.chat.completions.create(
            model=model, messages=messages, service_tier=tier, **extra
        )
        message = chat.choices[0].message
        return message.content or (message.audio.transcript if message.audio else "")
    chunks = api.chat.completions.create(
        model=model,
        messages=messages,
        service_tier=tier,
        stream=True,
        stream_options={"include_usage": True},
    )
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def call_anthropic(scenario: Scenario, stub_url: str) -> str:
    api = anthropic.Anthropic(
        base_url=stub_url,
        api_key="sk-ant-test",
        max_retries=0,
        timeout=10,
        default_headers={SCENARIO_HEADER: scenario.name},
    )
    ttl = "1h" if scenario.usage["cache_creation"]["ephemeral_1h_input_tokens"] else "5m"
    system: Any = [
        {"type": "text", "text": "Policy manual ...", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Orders ...", "cache_control": {"type": "ephemeral", "ttl": ttl}},
    ]
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": system,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    if not scenario.stream:
        reply = api.messages.create(**request)
        return "".join(block.text for block in reply.content if block.type == "text")
    events = api.messages.create(**request, stream=True)
    texts = [e.delta.text for e in events if e.type == "content_block_delta"]
    return "".join(t for t in texts if isinstance(t, str))


def call_langchain(scenario: Scenario, stub_url: str) -> str:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(
        model="gpt-5",
        base_url=f"{stub_url}/v1",
        api_key="sk-test",  # type: ignore[arg-type]
        max_retries=0,
        timeout=10,
        default_headers={SCENARIO_HEADER: scenario.name},
        service_tier=scenario.request_tier,
        stream_usage=True,
    )
    if not scenario.stream:
        return str(chat.invoke(PROMPT).content)
    return "".join(str(chunk.content) for chunk in chat.stream(PROMPT))


def make_call(scenario: Scenario, stub_url: str) -> str:
    if scenario.name.startswith("langchain-"):
        return call_langchain(scenario, stub_url)
    if scenario.provider == "anthropic":
        return call_anthropic(scenario, stub_url)
    return call_openai(scenario, stub_url)


def main(argv: list[str]) -> int:
    name, stub_url, http_url, namespace, *names = argv
    recorder = SpanRecorder()
    provider = TracerProvider(
        resource=Resource.create(RESOURCE), id_generator=CountingIds(namespace)
    )
    provider.add_span_processor(recorder)
    with tempfile.TemporaryDirectory() as scratch:
        instrument(name, provider, Path(scratch))
    tracer = provider.get_tracer("billing-check")
    traces, answers = {}, {}
    for scenario in (SCENARIOS[n] for n in names):
        with tracer.start_as_current_span(f"call {scenario.name}") as root:
            answers[scenario.name] = make_call(scenario, stub_url)
        traces[scenario.name] = format(root.get_span_context().trace_id, "032x")
    exporter = OTLPSpanExporter(endpoint=f"{http_url}/v1/traces", timeout=10)
    try:
        result = exporter.export(recorder.spans)
    finally:
        exporter.shutdown()
    print(json.dumps({"traces": traces, "answers": answers, "export": result.name}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
