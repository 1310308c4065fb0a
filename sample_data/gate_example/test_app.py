"""The example product's test suite, as a CI job runs it under `spendscope gate record`:

    spendscope gate record -o head.json -- python -m pytest -q sample_data/gate_example

OTel is set up from the standard environment (`OTEL_EXPORTER_OTLP_ENDPOINT`, which the
recording sets) and OpenLLMetry instruments the `openai` client."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from sample_data.gate_example import app
from sample_data.gate_example.model_stub import ModelStub

QUESTIONS = [
    "Where is my order 1042?",
    "Can I still change the address of order 2211?",
    "I want a refund for the blue jacket.",
    "How long does shipping to Lyon take?",
]


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    provider = TracerProvider(resource=Resource.create({"service.name": "shop-support"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    with ModelStub() as stub:
        yield openai.OpenAI(base_url=stub.base_url, api_key="sk-example", max_retries=0)
    provider.shutdown()


@pytest.mark.parametrize("question", QUESTIONS)
def test_answers_a_question(client: openai.OpenAI, question: str) -> None:
    assert app.answer(client, question)


def test_summarizes_a_ticket(client: openai.OpenAI) -> None:
    assert app.summarize(client, "Customer asks where order 1042 is; it shipped Monday.")
