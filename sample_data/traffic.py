"""Sample traffic: the traces of the sample product's sessions, emitted with the real OTel SDK.

Each feature uses the attribute conventions of a different instrumentation, so the demo
exercises normalization too: the current OTel GenAI names (support agent, with a tool loop
and prompt caching), OpenInference (search), the Vercel AI SDK (writing assistant), older
OpenLLMetry names (summarizer) and LiteLLM's OTel callback (the classification batch job,
served by the self-hosted vLLM deployment). Every span gets an explicit start and end time,
so the same code backfills weeks of history and keeps a live trickle going. Deterministic
for a seed (with `sample_data.export.SeededIds` for the trace and span ids).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from sample_data.gpu import ServedCall
from sample_data.product import (
    CLASSIFICATION,
    PRODUCTION,
    SEARCH,
    SUMMARIZER,
    SUPPORT,
    TENANT_WEIGHTS,
    TENANTS,
    USERS,
    VALUE_UNITS,
    VLLM_ADDRESS,
    VLLM_MODEL,
    VLLM_PORT,
    WRITING,
    tenant_of,
)

__all__ = [
    "OUTCOME_EVENT",
    "TENANTS",
    "USERS",
    "VALUE_UNITS",
    "LateOutcome",
    "SampleTraffic",
    "Session",
    "TrafficSummary",
    "tracer_provider",
]

OUTCOME_EVENT = "spendscope.outcome"
MS = 1_000_000  # nanoseconds
SECOND = 1000 * MS


@dataclass(frozen=True)
class TrafficSummary:
    traces: int
    model_calls: int
    outcomes: int
    late_outcomes: int = 0


@dataclass(frozen=True)
class Session:
    """One session to emit: what, when (ns since the epoch) and what is special about it."""

    feature: str
    session_id: str
    start_ns: int
    environment: str = PRODUCTION
    runaway: bool = False  # a support agent stuck in its tool loop
    spike: bool = False  # search during the bad deploy: a frontier model and huge prompts


@dataclass(frozen=True)
class LateOutcome:
    """A value-unit outcome the product reports later, through `POST /api/v1/outcomes`."""

    session_id: str
    name: str
    occurred_at_ns: int
    count: int = 1

    def payload(self) -> dict[str, Any]:
        occurred = dt.datetime.fromtimestamp(self.occurred_at_ns / 1e9, dt.UTC)
        return {
            "id": f"{self.session_id}:{self.name}",
            "session_id": self.session_id,
            "name": self.name,
            "count": self.count,
            "occurred_at": occurred.isoformat(),
        }


@dataclass(frozen=True)
class OutcomeOdds:
    """How often a feature's sessions reach their value unit, and when it is reported."""

    now: float  # as a span event at the end of the session
    late: float = 0.0  # later, through the API
    delay_s: tuple[int, int] = (60, 3600)


ODDS = {
    SUPPORT: OutcomeOdds(0.50, 0.20, (2 * 3600, 30 * 3600)),  # a human confirms the fix
    SEARCH: OutcomeOdds(0.85),
    WRITING: OutcomeOdds(0.10, 0.45, (60, 20 * 60)),  # the user saves the draft later
    SUMMARIZER: OutcomeOdds(0.80, 0.05, (300, 3600)),
}
PREVIEW_MODEL = "claude-preview-2026-11"
SUPPORT_TOOLS = ("lookup_order", "search_kb", "refund_status", "update_ticket")


@dataclass(frozen=True)
class IdKeys:
    """Where an instrumentation puts the session, user and tenant ids among the attributes."""

    session: str
    user: str
    tenant: str

    def of(self, session_id: str, user: str, tenant: str) -> dict[str, str]:
        return {self.session: session_id, self.user: user, self.tenant: tenant}


OTEL_IDS = IdKeys("session.id", "user.id", "spendscope.tenant")  # OTel GenAI, OpenInference
VERCEL_IDS = IdKeys(
    "ai.telemetry.metadata.sessionId",
    "ai.telemetry.metadata.userId",
    "ai.telemetry.metadata.tenantId",
)
TRACELOOP_IDS = IdKeys(
    "traceloop.association.properties.session_id",
    "traceloop.association.properties.user_id",
    "traceloop.association.properties.tenant_id",
)


def tracer_provider(exporter: SpanExporter, service: str, environment: str) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": service, "deployment.environment.name": environment}
        )
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


@dataclass
class SampleTraffic:
    """Emits sessions of the sample product through a tracer (one per environment)."""

    tracer: Tracer
    seed: int = 7
    environments: Mapping[str, Tracer] = field(default_factory=dict)
    traces: int = 0
    model_calls: int = 0
    outcomes: int = 0
    late: list[LateOutcome] = field(default_factory=list)
    served: list[ServedCall] = field(default_factory=list)  # by the vLLM deployment

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)
        # Times to first token draw from their own stream: the rest of the traffic is the
        # same for a seed with or without them.
        self._first_tokens = random.Random(self.seed + 1)
        self._tracer = self.tracer

    def run(self, sessions: int) -> TrafficSummary:
        """`sessions` sessions of the four interactive features, in turn, starting now."""
        features = (SUPPORT, SEARCH, WRITING, SUMMARIZER)
        now = time.time_ns()
        for index in range(sessions):
            self.emit(Session(features[index % len(features)], f"sess-{index:05d}", now))
        return self.summary()

    def summary(self) -> TrafficSummary:
        return TrafficSummary(self.traces, self.model_calls, self.outcomes, len(self.late))

    def emit(self, session: Session) -> int:
        """Emits the session's traces; returns when its last span ended (ns)."""
        self._tracer = self.environments.get(session.environment, self.tracer)
        emitters: dict[str, Callable[[Session], int]] = {
            SUPPORT: self.support_session,
            SEARCH: self.search,
            WRITING: self.draft,
            SUMMARIZER: self.summarize,
            CLASSIFICATION: self.classify_batch,
        }
        return emitters[session.feature](session)

    # Spans with explicit times.

    def _root(self, name: str, attributes: Mapping[str, Any], at: int) -> Span:
        self.traces += 1
        return self._tracer.start_span(
            name, context=Context(), attributes=attributes, start_time=at
        )

    def _session_root(
        self, name: str, attributes: Mapping[str, Any], session: Session, ids: IdKeys
    ) -> Span:
        """The session's root span, with its session, user and tenant ids under `ids`."""
        user, tenant = self._who(session)
        return self._root(
            name, {**attributes, **ids.of(session.session_id, user, tenant)}, session.start_ns
        )

    def _child(self, parent: Span, name: str, attributes: Mapping[str, Any], at: int) -> Span:
        return self._tracer.start_span(
            name, context=trace.set_span_in_context(parent), attributes=attributes, start_time=at
        )

    def _call(
        self,
        parent: Span,
        name: str,
        attributes: Mapping[str, Any],
        at: int,
        ms: tuple[int, int],
        streamed: bool = False,
    ) -> int:
        """A model call under `parent`, `ms` milliseconds long; returns its end. A
        `streamed` call carries its time to first token (OTel GenAI, seconds): the prompt's
        prefill, a fifth to a half of the call."""
        span = self._child(parent, name, attributes, at)
        duration = self.random.randint(*ms)
        end = at + duration * MS
        if streamed:
            span.set_attribute("gen_ai.request.stream", True)
            share = self._first_tokens.uniform(0.2, 0.5)
            span.set_attribute("gen_ai.response.time_to_first_chunk", duration * share / 1000)
        if self.random.random() < 0.01:
            span.set_status(Status(StatusCode.ERROR, "upstream 529: overloaded"))
        span.end(end_time=end)
        self.model_calls += 1
        return end

    def _finish(self, root: Span, session: Session, at: int, reached: bool = True) -> None:
        """Ends the session's last root span, with its outcome now, later or never."""
        odds = ODDS[session.feature]
        unit = VALUE_UNITS[session.feature]
        roll = self.random.random()
        if reached and roll < odds.now:
            root.add_event(OUTCOME_EVENT, {"spendscope.outcome.name": unit}, timestamp=at)
            self.outcomes += 1
        elif reached and roll < odds.now + odds.late:
            delay = self.random.randint(*odds.delay_s) * SECOND
            self.late.append(LateOutcome(session.session_id, unit, at + delay))
        root.end(end_time=at)

    def _chat(
        self, model: str, response_model: str, prompt: tuple[int, int], output: tuple[int, int]
    ) -> dict[str, Any]:
        """An OpenAI chat call's attributes in the current OTel GenAI names."""
        return {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": model,
            "gen_ai.response.model": response_model,
            "gen_ai.usage.input_tokens": self.random.randint(*prompt),
            "gen_ai.usage.output_tokens": self.random.randint(*output),
        }

    def _who(self, session: Session) -> tuple[str, str]:
        if session.environment != PRODUCTION:
            return f"qa-{self.random.randint(1, 5)}", "internal"
        user = self.random.choice(USERS)
        return user, tenant_of(user)

    # The features.

    def support_session(self, session: Session) -> int:
        """An agent with a tool loop; current OTel GenAI names; the system prompt is cached
        after the first turn. A runaway session loops on the same tool and never resolves."""
        root = self._session_root(
            "invoke_agent support",
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "support",
                "spendscope.feature": SUPPORT,
            },
            session,
            OTEL_IDS,
        )
        at = self._call(
            root,
            "chat gpt-4o-mini",
            self._chat("gpt-4o-mini", "gpt-4o-mini-2024-07-18", (300, 900), (20, 80)),
            session.start_ns,
            (300, 900),
        )
        turns = 90 if session.runaway else self.random.randint(1, 5)
        for turn in range(turns):
            prompt = min(2400 + turn * 650 + self.random.randint(100, 800), 120_000)
            cached = 0 if turn == 0 else min(2048 + (turn - 1) * 512, prompt - 100)
            attributes = {
                **self._chat("gpt-4o", "gpt-4o-2024-08-06", (prompt, prompt), (60, 400)),
                "gen_ai.usage.cache_read.input_tokens": cached,
            }
            at = self._call(root, "chat gpt-4o", attributes, at, (900, 4000), streamed=True)
            tool = "lookup_order" if session.runaway else self.random.choice(SUPPORT_TOOLS)
            span = self._child(
                root,
                f"execute_tool {tool}",
                {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool},
                at,
            )
            at += self.random.randint(50, 400) * MS
            span.end(end_time=at)
        self._finish(root, session, at, reached=not session.runaway)
        return at

    def search(self, session: Session) -> int:
        """OpenInference names: CHAIN root, EMBEDDING and LLM children."""
        root = self._session_root(
            "search",
            {"openinference.span.kind": "CHAIN", "spendscope.feature": SEARCH},
            session,
            OTEL_IDS,
        )
        at = self._call(
            root,
            "embed",
            {
                "openinference.span.kind": "EMBEDDING",
                "llm.provider": "openai",
                "embedding.model_name": "text-embedding-3-small",
                "llm.token_count.prompt": self.random.randint(10, 60),
            },
            session.start_ns,
            (40, 120),
        )
        # The bad deploy: the whole result set stuffed into a frontier model's prompt.
        model, prompt = (
            ("gpt-4o", (20_000, 40_000)) if session.spike else ("gpt-4o-mini", (500, 2000))
        )
        at = self._call(
            root,
            "ChatCompletion",
            {
                "openinference.span.kind": "LLM",
                "llm.provider": "openai",
                "llm.system": "openai",
                "llm.model_name": model,
                "llm.token_count.prompt": self.random.randint(*prompt),
                "llm.token_count.completion": self.random.randint(20, 200),
            },
            at,
            (400, 1500),
        )
        self._finish(root, session, at)
        return at

    def draft(self, session: Session) -> int:
        """Vercel AI SDK names: one `ai.generateText` trace per draft, the user regenerating
        a few times; the session's outcome (the draft saved) comes mostly later."""
        user, tenant = self._who(session)
        at = session.start_ns
        drafts = self.random.choices((1, 2, 3, 4), weights=(5, 3, 2, 1))[0]
        # Staging tries a preview model that no price list knows yet: unpriced, never $0.
        model = PREVIEW_MODEL if session.environment != PRODUCTION else "claude-3-5-sonnet-latest"
        for number in range(drafts):
            prompt = self.random.randint(300, 1500)
            completion = self.random.randint(200, 900)
            root = self._root(
                "ai.generateText",
                {
                    "ai.telemetry.functionId": WRITING,
                    "ai.usage.promptTokens": prompt,
                    "ai.usage.completionTokens": completion,
                    **VERCEL_IDS.of(session.session_id, user, tenant),
                },
                at,
            )
            at = self._call(
                root,
                "ai.generateText.doGenerate",
                {
                    "ai.model.provider": "anthropic.messages",
                    "ai.model.id": model,
                    "ai.usage.promptTokens": prompt,
                    "ai.usage.completionTokens": completion,
                },
                at,
                (2000, 9000),
            )
            if number < drafts - 1:
                root.end(end_time=at)
                at += self.random.randint(10, 90) * SECOND  # the user reads, then retries
        self._finish(root, session, at)
        return at

    def summarize(self, session: Session) -> int:
        """Older OpenLLMetry names: gen_ai.system and prompt/completion tokens. Some users
        ask follow-up questions about the document: each follow-up resends the document and
        the conversation so far, and nobody turned on Anthropic's prompt caching (the
        savings page's caching opportunity)."""
        root = self._session_root(
            "summarize.workflow",
            {"traceloop.span.kind": "workflow", "traceloop.workflow.name": SUMMARIZER},
            session,
            TRACELOOP_IDS,
        )
        prompt = self.random.randint(2000, 8000)
        at = self._summary_call(root, prompt, self.random.randint(100, 400), session.start_ns)
        # Follow-ups draw from a generator of their own, so the rest of the traffic (and
        # its incidents) is the same as before they were added.
        main, self.random = self.random, random.Random(f"follow-ups-{session.session_id}")
        try:
            for _ in range(self.random.choices((0, 1, 2, 3), weights=(6, 2, 1, 1))[0]):
                prompt += self.random.randint(100, 400) + 60  # the answer, the next question
                at = self._summary_call(root, prompt, self.random.randint(40, 200), at)
        finally:
            self.random = main
        self._finish(root, session, at)
        return at

    def _summary_call(self, root: Span, prompt: int, completion: int, at: int) -> int:
        return self._call(
            root,
            "anthropic.chat",
            {
                "gen_ai.system": "Anthropic",
                "gen_ai.request.model": "claude-3-5-haiku-latest",
                "llm.request.type": "chat",
                "gen_ai.usage.prompt_tokens": prompt,
                "gen_ai.usage.completion_tokens": completion,
            },
            at,
            (1500, 6000),
        )

    def classify_batch(self, session: Session) -> int:
        """The hourly batch job: LiteLLM proxy spans (`litellm_request`) for each ticket,
        served by the self-hosted vLLM deployment, a few falling back to gpt-4o-mini. Its
        value units are the tickets classified, reported as one counted outcome."""
        root = self._root(
            "classify_tickets",
            {
                "spendscope.feature": CLASSIFICATION,
                "session.id": session.session_id,
                # Nobody waits for it: its calls could go through a batch API.
                "spendscope.interactive": False,
            },
            session.start_ns,
        )
        tickets = self.random.randint(8, 24)
        at = end = session.start_ns
        for _ in range(tickets):
            tenant = self.random.choices(TENANTS, weights=list(TENANT_WEIGHTS.values()))[0]
            fallback = self.random.random() < 0.08
            provider, model = ("openai", "gpt-4o-mini") if fallback else ("hosted_vllm", VLLM_MODEL)
            prompt, completion = self.random.randint(400, 1200), self.random.randint(5, 30)
            attributes: dict[str, Any] = {
                "gen_ai.system": provider,
                "gen_ai.operation.name": "completion",
                "llm.request.type": "completion",
                "gen_ai.request.model": model,
                "gen_ai.response.model": model,
                "gen_ai.usage.input_tokens": prompt,
                "gen_ai.usage.output_tokens": completion,
                "gen_ai.usage.total_tokens": prompt + completion,
                "metadata.user_api_key_alias": "ticket-classifier",
                "metadata.user_api_key_team_id": tenant,
            }
            if not fallback:
                attributes |= {"server.address": VLLM_ADDRESS, "server.port": VLLM_PORT}
            # Eight requests in flight: each starts an eighth of a call after the previous.
            call_end = self._call(root, "litellm_request", attributes, at, (150, 700))
            if not fallback:
                self.served.append(ServedCall(at, call_end, prompt, completion))
            end = max(end, call_end)
            at += self.random.randint(20, 90) * MS
        root.add_event(
            OUTCOME_EVENT,
            {
                "spendscope.outcome.name": VALUE_UNITS[CLASSIFICATION],
                "spendscope.outcome.count": tickets,
            },
            timestamp=end,
        )
        self.outcomes += 1
        root.end(end_time=end)
        return end
