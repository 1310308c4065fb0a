"""Sample traffic: model-call traces of a small AI product, emitted with the real OTel SDK.

Each feature uses the attribute conventions of a different instrumentation, so the demo
exercises normalization too: the current OTel GenAI names (support agent), OpenInference
(search), the Vercel AI SDK (writing assistant) and older OpenLLMetry names (summarizer).
Deterministic for a seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, Tracer

OUTCOME_EVENT = "spendscope.outcome"
# The value unit of each sample feature, as `spendscope demo` configures it.
VALUE_UNITS = {
    "support-agent": "ticket_resolved",
    "search": "search_succeeded",
    "writing-assistant": "draft_saved",
    "summarizer": "summary_accepted",
}
USERS = [f"user-{n:03d}" for n in range(40)]
TENANTS = ["acme", "globex", "initech", "umbrella"]


@dataclass(frozen=True)
class TrafficSummary:
    traces: int
    model_calls: int
    outcomes: int


def tracer_provider(exporter: SpanExporter, service: str, environment: str) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": service, "deployment.environment.name": environment}
        )
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class SampleTraffic:
    """Emits sessions of the sample product through a tracer."""

    def __init__(self, tracer: Tracer, seed: int = 7) -> None:
        self.tracer = tracer
        self.random = random.Random(seed)
        self.model_calls = 0
        self.traces = 0
        self.outcomes = 0

    def run(self, sessions: int) -> TrafficSummary:
        features = (self.support_session, self.search, self.draft, self.summarize)
        for index in range(sessions):
            session_id = f"sess-{index:05d}"
            features[index % len(features)](session_id)
        return TrafficSummary(self.traces, self.model_calls, self.outcomes)

    @contextmanager
    def _root(
        self, name: str, attributes: dict[str, str | int], outcome: str, success_rate: float
    ) -> Iterator[Span]:
        """A session's root span; some sessions end with their value-unit outcome."""
        self.traces += 1
        with self.tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span
            if self.random.random() < success_rate:
                span.add_event(OUTCOME_EVENT, {"spendscope.outcome.name": outcome})
                self.outcomes += 1

    def _who(self, session_id: str) -> dict[str, str | int]:
        return {
            "session.id": session_id,
            "user.id": self.random.choice(USERS),
            "spendscope.tenant": self.random.choice(TENANTS),
        }

    def support_session(self, session_id: str) -> None:
        """An agent with a tool loop; current OTel GenAI names; roll-up usage on the root."""
        turns = self.random.randint(2, 6)
        with self._root(
            "invoke_agent support",
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "support",
                "spendscope.feature": "support-agent",
                **self._who(session_id),
            },
            VALUE_UNITS["support-agent"],
            0.7,
        ):
            for _ in range(turns):
                prompt = self.random.randint(800, 4000)
                cached = self.random.choice([0, prompt // 2])
                with self.tracer.start_as_current_span(
                    "chat gpt-4o",
                    attributes={
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": "gpt-4o",
                        "gen_ai.response.model": "gpt-4o-2024-08-06",
                        "gen_ai.usage.input_tokens": prompt,
                        "gen_ai.usage.cache_read.input_tokens": cached,
                        "gen_ai.usage.output_tokens": self.random.randint(50, 400),
                    },
                ):
                    self.model_calls += 1
                with self.tracer.start_as_current_span(
                    "execute_tool lookup_order",
                    attributes={
                        "gen_ai.operation.name": "execute_tool",
                        "gen_ai.tool.name": "lookup_order",
                    },
                ):
                    pass

    def search(self, session_id: str) -> None:
        """OpenInference names: CHAIN root, LLM and EMBEDDING children."""
        with self._root(
            "search",
            {
                "openinference.span.kind": "CHAIN",
                "spendscope.feature": "search",
                **self._who(session_id),
            },
            VALUE_UNITS["search"],
            0.85,
        ):
            with self.tracer.start_as_current_span(
                "embed",
                attributes={
                    "openinference.span.kind": "EMBEDDING",
                    "llm.provider": "openai",
                    "llm.model_name": "text-embedding-3-small",
                    "llm.token_count.prompt": self.random.randint(10, 60),
                },
            ):
                self.model_calls += 1
            with self.tracer.start_as_current_span(
                "ChatCompletion",
                attributes={
                    "openinference.span.kind": "LLM",
                    "llm.provider": "openai",
                    "llm.system": "openai",
                    "llm.model_name": "gpt-4o-mini",
                    "llm.token_count.prompt": self.random.randint(500, 2000),
                    "llm.token_count.completion": self.random.randint(20, 200),
                },
            ):
                self.model_calls += 1

    def draft(self, session_id: str) -> None:
        """Vercel AI SDK names: an aggregated ai.generateText root and its doGenerate call."""
        prompt = self.random.randint(300, 1500)
        completion = self.random.randint(200, 900)
        with (
            self._root(
                "ai.generateText",
                {
                    "ai.telemetry.functionId": "writing-assistant",
                    "ai.usage.promptTokens": prompt,
                    "ai.usage.completionTokens": completion,
                    "ai.telemetry.metadata.sessionId": session_id,
                    "ai.telemetry.metadata.userId": self.random.choice(USERS),
                    "spendscope.tenant": self.random.choice(TENANTS),
                },
                VALUE_UNITS["writing-assistant"],
                0.6,
            ),
            self.tracer.start_as_current_span(
                "ai.generateText.doGenerate",
                attributes={
                    "ai.model.provider": "anthropic.messages",
                    "ai.model.id": "claude-3-5-sonnet-latest",
                    "ai.usage.promptTokens": prompt,
                    "ai.usage.completionTokens": completion,
                },
            ),
        ):
            self.model_calls += 1

    def summarize(self, session_id: str) -> None:
        """Older OpenLLMetry names: gen_ai.system and prompt/completion tokens."""
        with (
            self._root(
                "summarize.workflow",
                {
                    "traceloop.span.kind": "workflow",
                    "traceloop.workflow.name": "summarizer",
                    **self._who(session_id),
                },
                VALUE_UNITS["summarizer"],
                0.9,
            ),
            self.tracer.start_as_current_span(
                "anthropic.chat",
                attributes={
                    "gen_ai.system": "Anthropic",
                    "llm.request.type": "chat",
                    "gen_ai.request.model": "claude-3-5-haiku-latest",
                    "gen_ai.usage.prompt_tokens": self.random.randint(2000, 8000),
                    "gen_ai.usage.completion_tokens": self.random.randint(100, 400),
                },
            ),
        ):
            self.model_calls += 1
