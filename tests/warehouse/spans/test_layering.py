"""Layered spans counted once, on a real warehouse: spans shaped as each instrumentation emits
them (scope names and attributes from their source, docs/normalization.md) go through the
collector's decoder and `insert_spans` in numbered batches, then the attribution, pricing and
rollup jobs run as the scheduler runs them. Each layering, an arrival out of order, and the
calls that must stay apart."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.ingest.normalize import Normalizer
from collector.ingest.traces.decode import PROTOBUF, decode_traces
from sample_data.harness import otlp
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.pricing import job as pricing
from warehouse.rollups import job as rollups
from warehouse.spans import attribution
from warehouse.spans.insert import insert_spans, last_batch_id
from warehouse.spans.layering import compatible_models, model_family
from warehouse.store.database import Database

NOW = dt.datetime(2025, 11, 22, 12, tzinfo=dt.UTC)
Attrs = dict[str, str | int]
Scoped = tuple[str, Span]  # (instrumentation scope, span)

OI_LANGCHAIN = "openinference.instrumentation.langchain"
OI_OPENAI = "openinference.instrumentation.openai"
OLLM_LANGCHAIN = "opentelemetry.instrumentation.langchain"
OLLM_OPENAI = "opentelemetry.instrumentation.openai.v1"
OPENLIT_OPENAI = "openlit.instrumentation.openai"


def at(scope: str, span: Span) -> Scoped:
    return (scope, span)


def sp(trace: int, number: int, parent: int | None, name: str, attributes: Attrs) -> Span:
    return otlp.span(trace, number, parent, name=name, attributes=attributes)


class Warehouse:
    """Ingest (one batch per call), then the jobs that turn spans into priced calls."""

    def __init__(self, database: Database) -> None:
        self.cursor = database.cursor()
        self.normalizer = Normalizer()

    def ingest(self, *spans: Scoped, resource: Attrs | None = None) -> None:
        export = ExportTraceServiceRequest()
        resource_spans = export.resource_spans.add()
        resource_spans.resource.attributes.extend(
            otlp.key_values(resource or {"service.name": "app"})
        )
        for scope in dict.fromkeys(scope for scope, _ in spans):
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name = scope
            scope_spans.spans.extend(span for name, span in spans if name == scope)
        decoded = decode_traces(export.SerializeToString(), PROTOBUF, self.normalizer)
        assert decoded.rejected == 0, decoded.rejection_message
        self.cursor.begin()
        insert_spans(self.cursor, decoded.table, last_batch_id(self.cursor) + 1, NOW)
        self.cursor.commit()

    def attribute(self) -> None:
        run_job(self.cursor, JOBS[attribution.NAME], NOW)

    def run_jobs(self) -> None:
        for name in (attribution.NAME, pricing.NAME, rollups.NAME):
            run_job(self.cursor, JOBS[name], NOW)

    def calls(self, trace: int = 1) -> dict[int, dict[str, str | None]]:
        """The trace's model calls: span number -> feature, session, user, tenant, agent."""
        rows = self.cursor.execute(
            "SELECT span_id, feature, session_id, user_id, tenant_id, agent_name "
            "FROM model_calls WHERE trace_id = ?",
            [otlp.trace_id(trace)],
        ).fetchall()
        keys = ("feature", "session_id", "user_id", "tenant_id", "agent_name")
        return {
            int.from_bytes(row[0], "big"): {k: v for k, v in zip(keys, row[1:], strict=True) if v}
            for row in rows
        }

    def model_call_spans(self, trace: int = 1) -> int:
        row = self.cursor.execute(
            "SELECT count(*) FROM spans WHERE is_model_call AND trace_id = ?",
            [otlp.trace_id(trace)],
        ).fetchone()
        assert row is not None
        return int(row[0])

    def trace_rollup(self, trace: int = 1) -> tuple[int, int, Decimal]:
        """The trace as rolled up: calls, input tokens, cost."""
        row = self.cursor.execute(
            "SELECT sum(calls), sum(input_tokens), sum(cost_usd) FROM rollup_traces "
            "WHERE trace_id = ?",
            [otlp.trace_id(trace)],
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), Decimal(row[2])

    def hourly_calls(self) -> int:
        row = self.cursor.execute("SELECT sum(calls) FROM rollup_hourly").fetchone()
        assert row is not None
        return int(row[0])

    def snapshot(self) -> list[tuple[object, ...]]:
        return self.cursor.execute(
            "SELECT trace_id, span_id, start_time, feature, session_id, user_id, tenant_id, "
            "environment, agent_name FROM model_calls ORDER BY ALL"
        ).fetchall()


@pytest.fixture
def warehouse(database: Database) -> Iterator[Warehouse]:
    wh = Warehouse(database)
    yield wh
    wh.cursor.close()


# ---- span shapes, as each instrumentation emits them ------------------------------------


def oi_chain(trace: int, number: int, parent: int | None = None, **extra: str) -> Scoped:
    """An OpenInference LangChain chain (a roll-up) with the context attributes that
    `using_attributes(session_id=..., user_id=...)` puts on every span under it."""
    attributes: Attrs = {"openinference.span.kind": "CHAIN", **extra}
    return at(OI_LANGCHAIN, sp(trace, number, parent, "RunnableSequence", attributes))


def oi_llm(model: str, prompt: int, completion: int, cached: int) -> Attrs:
    """An OpenInference LLM span's attributes, with the context attributes that
    `using_attributes(session_id=..., user_id=...)` puts on every span under it."""
    return {
        "openinference.span.kind": "LLM",
        "llm.system": "openai",
        "llm.provider": "openai",
        "llm.model_name": model,
        "llm.token_count.prompt": prompt,
        "llm.token_count.completion": completion,
        "llm.token_count.total": prompt + completion,
        "llm.token_count.prompt_details.cache_read": cached,
        "session.id": "sess-7",
        "user.id": "u-7",
    }


def oi_langchain_llm(
    trace: int, number: int, parent: int, prompt: int, completion: int, cached: int = 0
) -> Scoped:
    """OpenInference LangChain's span for a ChatOpenAI call (`_tracer.py`): kind LLM, the
    model LangChain was configured with, the usage LangChain's UsageMetadata reports."""
    attributes = oi_llm("gpt-4o-mini", prompt, completion, cached)
    return at(OI_LANGCHAIN, sp(trace, number, parent, "ChatOpenAI", attributes))


def oi_openai(
    trace: int, number: int, parent: int | None, prompt: int, completion: int, cached: int = 0
) -> Scoped:
    """OpenInference's openai client span under it: the dated model the API answered with."""
    attributes = oi_llm("gpt-4o-mini-2024-07-18", prompt, completion, cached)
    return at(OI_OPENAI, sp(trace, number, parent, "ChatCompletion", attributes))


def genai_chat(
    model: str, response_model: str, prompt: int, completion: int, **extra: str | int
) -> Attrs:
    """The GenAI chat attributes OpenLLMetry, OpenLIT, LiteLLM and Pydantic AI all set."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": model,
        "gen_ai.response.model": response_model,
        "gen_ai.usage.input_tokens": prompt,
        "gen_ai.usage.output_tokens": completion,
        **extra,
    }


# ---- the layerings ------------------------------------------------------------------------


def test_openinference_langchain_over_its_openai_client_is_one_call(
    warehouse: Warehouse,
) -> None:
    warehouse.ingest(
        oi_chain(1, 1, **{"spendscope.feature": "support", "session.id": "sess-7"}),
        oi_langchain_llm(1, 2, 1, 1200, 150, cached=1024),
        oi_openai(1, 3, 2, 1200, 150, cached=1024),
    )
    assert warehouse.model_call_spans() == 2  # both are LLM spans: +100% before layering
    warehouse.run_jobs()
    # One call, on the client span (it names the dated model), attributed like LangChain's.
    assert warehouse.calls() == {
        3: {"feature": "support", "session_id": "sess-7", "user_id": "u-7"}
    }
    calls, input_tokens, cost = warehouse.trace_rollup()
    assert (calls, input_tokens) == (1, 1200)
    # gpt-4o-mini list price: 176 uncached at $0.15/M, 1024 cached at $0.075/M, 150 at $0.60/M.
    assert cost == Decimal("0.0000264") + Decimal("0.0000768") + Decimal("0.00009")


def test_openllmetry_langchain_over_an_openlit_client_arriving_first(
    warehouse: Warehouse,
) -> None:
    # OpenLLMetry LangChain suppresses only OpenLLMetry's own client spans; OpenLIT's stays.
    # The client span ends first and leaves in an earlier export than the chain above it.
    warehouse.ingest(
        at(
            OPENLIT_OPENAI,
            sp(1, 3, 2, "chat gpt-4o", genai_chat("gpt-4o", "gpt-4o-2024-08-06", 900, 80)),
        )
    )
    warehouse.run_jobs()
    assert warehouse.calls() == {3: {}}
    assert warehouse.trace_rollup()[0] == 1

    workflow: Attrs = {
        "traceloop.span.kind": "workflow",
        "traceloop.workflow.name": "triage",
        "traceloop.association.properties.user_id": "u-9",
    }
    llm = genai_chat(
        "gpt-4o",
        "gpt-4o-2024-08-06",
        900,
        80,
        **{"traceloop.workflow.name": "triage", "gen_ai.agent.name": "triager"},
    )
    warehouse.ingest(
        at(OLLM_LANGCHAIN, sp(1, 1, None, "triage.workflow", workflow)),
        at(OLLM_LANGCHAIN, sp(1, 2, 1, "ChatOpenAI.chat", llm)),
    )
    warehouse.run_jobs()
    # The client span keeps the row it already had; it takes the LangChain span's attribution.
    assert warehouse.calls() == {
        3: {"feature": "triage", "user_id": "u-9", "agent_name": "triager"}
    }
    calls, input_tokens, _ = warehouse.trace_rollup()
    assert (calls, input_tokens, warehouse.hourly_calls()) == (1, 900, 1)


def litellm_proxy_spans(trace: int) -> list[Scoped]:
    """A LiteLLM proxy (another process) under the app's client span: its request span with
    the usage `set_attributes` writes (the virtual key's team as tenant), and OpenInference's
    span of the openai client the proxy called."""
    proxy = genai_chat(
        "gpt-4o",
        "gpt-4o-2024-08-06",
        3000,
        400,
        **{
            "llm.request.type": "completion",
            "gen_ai.cost.total_cost": 0.0115,
            "metadata.user_api_key_team_id": "team-blue",
            "metadata.user_api_key_user_id": "key-user",
        },
    )
    client: Attrs = {
        "openinference.span.kind": "LLM",
        "llm.provider": "openai",
        "llm.model_name": "gpt-4o-2024-08-06",
        "llm.token_count.prompt": 3000,
        "llm.token_count.completion": 400,
    }
    return [
        at("litellm", sp(trace, 10, 2, "Received Proxy Server Request", proxy)),
        at(OI_OPENAI, sp(trace, 11, 10, "ChatCompletion", client)),
    ]


def test_app_client_over_litellm_proxy_over_its_client_in_any_order(
    warehouse: Warehouse,
) -> None:
    app_root = at("app", sp(1, 1, None, "answer", {"spendscope.feature": "qa", "user.id": "u-1"}))
    # The app called the proxy's model alias; the proxy answered with the real model.
    app_client = at(
        OLLM_OPENAI,
        sp(1, 2, 1, "openai.chat", genai_chat("smart", "gpt-4o-2024-08-06", 3000, 400)),
    )
    # Trace 1: the app's export arrives first, the proxy's later (another process).
    warehouse.ingest(app_root, app_client)
    warehouse.run_jobs()
    warehouse.ingest(*litellm_proxy_spans(1))
    warehouse.run_jobs()
    expected = {"feature": "qa", "user_id": "u-1", "tenant_id": "team-blue"}
    assert warehouse.calls(1) == {2: expected}  # three layers, one call
    assert warehouse.trace_rollup(1)[:2] == (1, 3000)

    # Trace 2: the proxy's export first. Its two spans make one call until the app's arrive.
    second = [
        at("app", sp(2, 1, None, "answer", {"spendscope.feature": "qa", "user.id": "u-1"})),
        at(
            OLLM_OPENAI,
            sp(2, 2, 1, "openai.chat", genai_chat("smart", "gpt-4o-2024-08-06", 3000, 400)),
        ),
    ]
    warehouse.ingest(*litellm_proxy_spans(2))
    warehouse.run_jobs()
    assert list(warehouse.calls(2)) == [11]
    warehouse.ingest(*second)
    warehouse.run_jobs()
    assert warehouse.calls(2) == {11: expected}
    assert warehouse.trace_rollup(2)[:2] == (1, 3000)
    assert warehouse.hourly_calls() == 2


def test_pydantic_ai_chat_over_an_instrumented_openai_client(warehouse: Warehouse) -> None:
    agent: Attrs = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "support_bot",
        "gen_ai.aggregated_usage.input_tokens": 5400,
        "gen_ai.aggregated_usage.output_tokens": 660,
    }
    chat = genai_chat(
        "gpt-4o", "gpt-4o-2024-08-06", 5400, 660, **{"gen_ai.provider.name": "openai"}
    )
    client = genai_chat(
        "gpt-4o",
        "gpt-4o-2024-08-06",
        5400,
        660,
        **{"gen_ai.usage.cache_read.input_tokens": 3840, "openai.response.service_tier": "default"},
    )
    warehouse.ingest(
        at("pydantic-ai", sp(1, 1, None, "agent run", agent)),
        at("pydantic-ai", sp(1, 2, 1, "chat gpt-4o", chat)),
        at(OLLM_OPENAI, sp(1, 3, 2, "openai.chat", client)),
    )
    warehouse.run_jobs()
    assert warehouse.calls() == {3: {"agent_name": "support_bot"}}
    assert warehouse.trace_rollup()[:2] == (1, 5400)


def test_ai_sdk_embeddings_root_over_its_embed_call_and_the_v5_roots(
    warehouse: Warehouse,
) -> None:
    # @ai-sdk/otel (tracer `gen_ai`): `embed` opens an `embeddings` CLIENT root with the
    # usage total, and the embed call under it; one value, so one call.
    embed: Attrs = {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "text-embedding-3-small",
        "gen_ai.usage.input_tokens": 12,
    }
    warehouse.ingest(
        at("gen_ai", sp(1, 1, None, "embeddings text-embedding-3-small", embed)),
        at("gen_ai", sp(1, 2, 1, "embeddings text-embedding-3-small", embed)),
    )
    # The legacy `ai` tracer: the root is a roll-up already, its doGenerate the call.
    root: Attrs = {
        "ai.operationId": "ai.generateText",
        "ai.model.provider": "openai.chat",
        "ai.model.id": "gpt-4o",
        "ai.telemetry.functionId": "writer",
        "ai.usage.promptTokens": 300,
        "ai.usage.completionTokens": 50,
    }
    do_generate: Attrs = {
        "ai.operationId": "ai.generateText.doGenerate",
        "ai.model.provider": "openai.chat",
        "ai.model.id": "gpt-4o",
        "gen_ai.system": "openai.chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 300,
        "gen_ai.usage.output_tokens": 50,
    }
    warehouse.ingest(
        at("ai", sp(2, 1, None, "ai.generateText", root)),
        at("ai", sp(2, 2, 1, "ai.generateText.doGenerate", do_generate)),
    )
    warehouse.run_jobs()
    assert warehouse.calls(1) == {2: {}}
    assert warehouse.calls(2) == {2: {"feature": "writer"}}
    assert warehouse.hourly_calls() == 2


# ---- late links, re-runs, batching ----------------------------------------------------------


def test_a_call_counted_twice_before_its_link_arrived_is_withdrawn(warehouse: Warehouse) -> None:
    # The LangChain span and the client span arrive before the span between them, so each
    # is a call of its own for a while; the link makes them one, whatever came first.
    warehouse.ingest(
        oi_chain(1, 1, **{"spendscope.feature": "f"}), oi_langchain_llm(1, 2, 1, 70, 9)
    )
    warehouse.run_jobs()
    warehouse.ingest(oi_openai(1, 4, 3, 70, 9))  # its parent (3) is still missing
    warehouse.run_jobs()
    assert set(warehouse.calls()) == {2, 4}
    assert warehouse.trace_rollup()[0] == 2

    retry = at(OI_LANGCHAIN, sp(1, 3, 2, "with_retry", {"openinference.span.kind": "CHAIN"}))
    warehouse.ingest(retry)
    warehouse.run_jobs()
    # The member that arrived first keys the call; the other's row is withdrawn.
    assert warehouse.calls() == {2: {"feature": "f", "session_id": "sess-7", "user_id": "u-7"}}
    assert warehouse.trace_rollup()[:2] == (1, 70)
    assert warehouse.hourly_calls() == 1


def test_rerunning_and_regrouping_batches_gives_the_same_calls(database: Database) -> None:
    exports: list[list[Scoped]] = [
        [oi_openai(1, 4, 3, 70, 9), oi_openai(2, 3, 2, 5, 5)],
        [oi_chain(1, 1), oi_langchain_llm(1, 2, 1, 70, 9)],
        [at(OI_LANGCHAIN, sp(1, 3, 2, "with_retry", {"openinference.span.kind": "CHAIN"}))],
        [oi_chain(2, 1), oi_langchain_llm(2, 2, 1, 5, 5)],
    ]
    one_by_one = Warehouse(database)
    for spans in exports:
        one_by_one.ingest(*spans)
        one_by_one.attribute()
    expected = one_by_one.snapshot()
    assert [row[1] for row in expected] == [otlp.span_id(4), otlp.span_id(3)]
    # The same range attributed again, in one step: nothing changes.
    one_by_one.cursor.begin()
    attribution.attribute(one_by_one.cursor, 0, last_batch_id(one_by_one.cursor))
    one_by_one.cursor.commit()
    assert one_by_one.snapshot() == expected
    # And all batches in one run from scratch.
    one_by_one.cursor.execute("DELETE FROM model_calls")
    one_by_one.cursor.execute("DELETE FROM job_state")
    one_by_one.attribute()
    assert one_by_one.snapshot() == expected


# ---- what must stay apart ---------------------------------------------------------------------


def test_an_agent_making_two_calls_of_different_usage_counts_both(warehouse: Warehouse) -> None:
    agent: Attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"}
    first = genai_chat("gpt-4o", "gpt-4o-2024-08-06", 500, 40)
    second = genai_chat("gpt-4o", "gpt-4o-2024-08-06", 800, 60)
    warehouse.ingest(
        at("pydantic-ai", sp(1, 1, None, "agent run", agent)),
        at("pydantic-ai", sp(1, 2, 1, "chat gpt-4o", first)),
        at(OLLM_OPENAI, sp(1, 3, 2, "openai.chat", first)),
        at("pydantic-ai", sp(1, 4, 1, "chat gpt-4o", second)),
        at(OLLM_OPENAI, sp(1, 5, 4, "openai.chat", second)),
        # A call under the first chat span (a tool's own call) with other usage stays a call.
        at(OLLM_OPENAI, sp(1, 6, 2, "openai.chat", genai_chat("gpt-4o", "gpt-4o", 500, 41))),
    )
    warehouse.run_jobs()
    assert set(warehouse.calls()) == {3, 5, 6}
    assert warehouse.trace_rollup()[:2] == (3, 1800)


def test_equal_usage_siblings_are_two_calls(warehouse: Warehouse) -> None:
    warehouse.ingest(
        oi_chain(1, 1),
        oi_openai(1, 2, 1, 64, 8),
        oi_openai(1, 3, 1, 64, 8),
        # An LLM span over two client calls of its usage: it is one of them, not both.
        oi_langchain_llm(1, 4, 1, 30, 3),
        oi_openai(1, 5, 4, 30, 3),
        oi_openai(1, 6, 4, 30, 3),
    )
    warehouse.run_jobs()
    assert set(warehouse.calls()) == {2, 3, 5, 6}
    assert warehouse.trace_rollup()[0] == 4


def test_same_usage_under_another_model_is_another_call(warehouse: Warehouse) -> None:
    outer = genai_chat("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", 100, 20)
    inner = genai_chat("gpt-4o", "gpt-4o-2024-08-06", 100, 20)
    no_usage = genai_chat("gpt-4o", "gpt-4o", 0, 0)
    warehouse.ingest(
        at("app", sp(1, 1, None, "chat", outer)),
        at(OLLM_OPENAI, sp(1, 2, 1, "openai.chat", inner)),
        # Calls without usage have nothing to match on: both stay.
        at("app", sp(1, 3, 2, "chat", no_usage)),
        at(OLLM_OPENAI, sp(1, 4, 3, "openai.chat", no_usage)),
    )
    warehouse.attribute()
    assert set(warehouse.calls()) == {1, 2, 3, 4}


# ---- model names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        (["gpt-4o-mini"], ["gpt-4o-mini-2024-07-18"], True),
        (["claude-sonnet-4-5"], [None, "claude-sonnet-4-5-20250929"], True),
        (["openai/gpt-4o"], ["gpt-4o-2024-08-06"], True),
        (["us.anthropic.claude-3-5-sonnet-20240620-v1:0"], ["claude-3-5-sonnet-20240620"], True),
        (["models/gemini-1.5-pro-002"], ["gemini-1.5-pro"], True),
        (["smart", "gpt-4o-2024-08-06"], ["gpt-4o"], True),  # a proxy alias, answered
        ([None], ["gpt-4o"], True),
        (["gpt-4o"], ["claude-sonnet-4-5"], False),
        (["gpt-4.1"], ["gpt-4o"], False),
        (["smart"], ["gpt-4o"], False),
    ],
)
def test_compatible_models(
    outer: Sequence[str | None], inner: Sequence[str | None], expected: bool
) -> None:
    assert compatible_models(outer, inner) is expected
    assert compatible_models(inner, outer) is expected


def test_model_family_keeps_version_dots() -> None:
    assert model_family("gpt-4.1-2025-04-14") == "gpt-4.1"
    assert model_family("Claude-3.5-Sonnet-Latest") == "claude-3.5-sonnet"
    assert model_family("gpt-4-0613") == "gpt-4"


def test_openinference_langchain_beside_its_client_span_is_one_call(warehouse: Warehouse) -> None:
    """OpenInference LangChain does not attach its LLM span as the current context: the
    client span of the same request is its sibling, inside it in time (real spans, 0.1.80)."""
    outer = oi_langchain_llm(1, 2, 1, 30, 3)
    outer[1].end_time_unix_nano += 10_000_000
    inner = oi_openai(1, 3, 1, 30, 3)
    inner[1].start_time_unix_nano += 1_000_000
    inner[1].end_time_unix_nano += 1_000_000
    # Two more calls of that usage in sequence after it: siblings, not layers.
    later = [oi_openai(1, n, 1, 30, 3) for n in (4, 5)]
    for offset, (_, span) in enumerate(later, 1):
        span.start_time_unix_nano += offset * 20_000_000
        span.end_time_unix_nano += offset * 20_000_000
    warehouse.ingest(oi_chain(1, 1), outer, inner, *later)
    warehouse.run_jobs()
    assert set(warehouse.calls()) == {3, 4, 5}
    assert warehouse.trace_rollup()[0] == 3


def test_parallel_calls_of_one_scope_and_equal_usage_are_two_calls(warehouse: Warehouse) -> None:
    """A batch job's parallel requests of one template can share their usage, one running
    inside the other's time (as the demo's ticket classification did): one library beside
    itself, so two calls, not a layer."""
    outer = oi_openai(1, 2, 1, 30, 3)
    outer[1].end_time_unix_nano += 10_000_000
    inner = oi_openai(1, 3, 1, 30, 3)
    inner[1].start_time_unix_nano += 1_000_000
    inner[1].end_time_unix_nano += 1_000_000
    warehouse.ingest(oi_chain(1, 1), outer, inner)
    warehouse.run_jobs()
    assert set(warehouse.calls()) == {2, 3}
    assert warehouse.trace_rollup()[0] == 2
