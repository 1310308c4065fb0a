"""The what-ifs on a hand-made world, stored and priced by the real jobs: a routing rule, the
quality evidence per model, prompt caching and batch, each against figures computed here
with genai-prices' own `calc_price`, and the monthly interval's arithmetic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import duckdb
import pytest
from genai_prices import Usage, calc_price
from opentelemetry.trace import Span, Tracer, set_span_in_context

from tests.support.genai_spans import chat_call, nanos
from tests.warehouse.savings.traffic import store_spans, tracer_provider
from warehouse.core.errors import InvalidRequest, NotFound
from warehouse.pricing.job import current_book
from warehouse.savings.interval import DAYS_PER_MONTH, history_days, monthly
from warehouse.savings.opportunities import opportunities
from warehouse.savings.recorded import Selection
from warehouse.savings.tokenizers import tokenizer_ratio
from warehouse.savings.whatif import Rule, what_if
from warehouse.store.database import Database
from warehouse.store.scope import ALL_TENANTS, TenantScope

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
FIRST = NOW - dt.timedelta(days=9, hours=12)  # the first call: ten days of history
WINDOW = Selection(NOW - dt.timedelta(days=30), NOW, ALL_TENANTS)
UNITS = {"chat": "answered", "docs": "read"}


def root(tracer: Tracer, at: dt.datetime, **attributes: Any) -> Span:
    return tracer.start_span("request", start_time=nanos(at), attributes=attributes)


def session(
    tracer: Tracer,
    at: dt.datetime,
    feature: str,
    session_id: str | None,
    calls: list[tuple[str, int]],
    *,
    outcome: bool = False,
    tool: bool = False,
    errors: int = 0,
    interactive: bool = True,
    provider: str = "openai",
) -> None:
    """A trace of `calls` (model, input tokens; 100 output tokens each) under a root."""
    attributes: dict[str, Any] = {"spendscope.feature": feature, "spendscope.tenant": "acme"}
    if session_id is not None:
        attributes["session.id"] = session_id
    if not interactive:
        attributes["spendscope.interactive"] = False
    top = root(tracer, at, **attributes)
    for n, (model, tokens) in enumerate(calls):
        chat_call(
            tracer,
            top,
            at + dt.timedelta(seconds=n * 10),
            model,
            (tokens, 100),
            error="overloaded" if n < errors else None,
            attributes={"gen_ai.provider.name": provider},
        )
    if tool:
        child = tracer.start_span(
            "execute_tool lookup",
            context=set_span_in_context(top),
            start_time=nanos(at),
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
        )
        child.end(end_time=nanos(at) + 1000)
    if outcome:
        top.add_event("spendscope.outcome", {"spendscope.outcome.name": UNITS[feature]})
    top.end(end_time=nanos(at + dt.timedelta(minutes=1)))


def build(tracer: Tracer) -> None:
    day = dt.timedelta(days=1)
    # chat: four gpt-4o sessions (three answered, one call failed), two gpt-4o-mini (one).
    session(tracer, FIRST, "chat", "c1", [("gpt-4o", 500)], outcome=True)
    session(tracer, FIRST + day, "chat", "c2", [("gpt-4o", 5000)], outcome=True, errors=1)
    session(tracer, FIRST + 2 * day, "chat", "c3", [("gpt-4o", 800)], outcome=True, tool=True)
    session(tracer, FIRST + 3 * day, "chat", "c4", [("gpt-4o", 700)])
    session(tracer, FIRST + 4 * day, "chat", "c5", [("gpt-4o-mini", 600)], outcome=True)
    session(tracer, FIRST + 5 * day, "chat", "c6", [("gpt-4o-mini", 900)])
    # docs: a conversation that resends its document each turn, uncached.
    session(
        tracer,
        FIRST + 6 * day,
        "docs",
        "d1",
        [("claude-3-5-haiku-latest", n) for n in (3000, 3300, 3600)],
        provider="anthropic",
    )
    # nightly: a job marked non-interactive; webhook: calls outside any session.
    session(tracer, FIRST + 7 * day, "nightly", "n1", [("gpt-4o-mini", 100_000)], interactive=False)
    session(tracer, FIRST + 8 * day, "webhook", None, [("gpt-4o-mini", 80_000)])


@pytest.fixture(scope="module")
def cursor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    database = Database.open(tmp_path_factory.mktemp("savings") / "spendscope.duckdb")
    cursor = database.cursor()
    provider, memory = tracer_provider()
    build(provider.get_tracer("test"))
    provider.shutdown()
    # A batch worker marked on its resource (OTEL_RESOURCE_ATTRIBUTES), not on a span.
    worker, worker_memory = tracer_provider(8, {"spendscope.interactive": "false"})
    at = FIRST + dt.timedelta(days=8, hours=1)
    session(worker.get_tracer("worker"), at, "digest", "w1", [("gpt-4o-mini", 60_000)])
    worker.shutdown()
    store_spans(cursor, [*memory.get_finished_spans(), *worker_memory.get_finished_spans()])
    yield cursor
    cursor.close()
    database.close()


def price(model: str, provider: str = "openai", **tokens: int) -> Decimal:
    return calc_price(Usage(**tokens), model_ref=model, provider_id=provider).total_price


def per_month(amount: Decimal, days: int = 10) -> Decimal:
    return (amount / days * DAYS_PER_MONTH).quantize(Decimal("0.000001"))


def test_a_routing_rule_moves_only_the_calls_it_matches(cursor: duckdb.DuckDBPyConnection) -> None:
    rule = Rule("gpt-4o-mini", max_input_tokens=1000, no_tools=True)
    result = what_if(cursor, current_book(cursor), replace_feature("chat"), rule, UNITS)
    # gpt-4o with input under 1,000 and no tool: c1 (500) and c4 (700); not c2 (5,000),
    # not c3 (a tool ran in its trace); the gpt-4o-mini calls are already there.
    assert (result.calls, result.replay.moved_calls) == (6, 2)
    (feature,) = result.replay.features
    recorded = price("gpt-4o", input_tokens=500, output_tokens=100) + price(
        "gpt-4o", input_tokens=700, output_tokens=100
    )
    target = price("gpt-4o-mini", input_tokens=500, output_tokens=100) + price(
        "gpt-4o-mini", input_tokens=700, output_tokens=100
    )
    assert (feature.recorded_usd, feature.what_if_usd) == (recorded, target)
    assert result.replay.total.usd == feature.saving.usd == per_month(recorded - target)
    assert result.days == 10


def test_a_window_reaching_past_now_averages_over_the_history_up_to_now(
    cursor: duckdb.DuckDBPyConnection,
) -> None:
    later = Selection(WINDOW.start, NOW + dt.timedelta(days=365), WINDOW.scope, "chat", now=NOW)
    result = what_if(cursor, current_book(cursor), later, Rule("gpt-4o-mini"), UNITS)
    same = what_if(
        cursor, current_book(cursor), replace_feature("chat"), Rule("gpt-4o-mini"), UNITS
    )
    assert result.days == same.days == 10
    assert result.replay.total == same.replay.total


def replace_feature(feature: str) -> Selection:
    return Selection(WINDOW.start, WINDOW.end, WINDOW.scope, feature)


def test_quality_evidence_per_model(cursor: duckdb.DuckDBPyConnection) -> None:
    result = what_if(
        cursor, current_book(cursor), replace_feature("chat"), Rule("gpt-4o-mini"), UNITS
    )
    evidence = {row.model: row for row in result.evidence}
    big, small = evidence["gpt-4o"], evidence["gpt-4o-mini"]
    assert (big.calls, big.error_calls, big.sessions, big.successful_sessions) == (4, 1, 4, 3)
    assert (big.error_rate, big.success_rate) == (0.25, 0.75)
    assert (small.calls, small.sessions, small.successful_sessions) == (2, 2, 1)
    assert small.value_unit == "answered" and small.success_rate == 0.5


def test_no_value_unit_no_success_rate(cursor: duckdb.DuckDBPyConnection) -> None:
    result = what_if(cursor, current_book(cursor), replace_feature("chat"), Rule("gpt-4o-mini"), {})
    assert all(row.success_rate is None and row.value_unit is None for row in result.evidence)


def test_what_if_errors(cursor: duckdb.DuckDBPyConnection) -> None:
    book = current_book(cursor)
    with pytest.raises(NotFound):
        what_if(cursor, book, replace_feature("nothing"), Rule("gpt-4o-mini"), UNITS)
    with pytest.raises(InvalidRequest, match="no price for openai/no-such-model"):
        what_if(cursor, book, replace_feature("chat"), Rule("no-such-model"), UNITS)
    with pytest.raises(InvalidRequest, match="give to_provider"):
        what_if(cursor, book, WINDOW, Rule("gpt-4o-mini"), UNITS)  # openai and anthropic
    other = Selection(WINDOW.start, WINDOW.end, TenantScope("globex"), "chat")
    with pytest.raises(NotFound):  # another tenant's scope sees none of acme's calls
        what_if(cursor, book, other, Rule("gpt-4o-mini"), UNITS)


def test_caching_reads_the_resent_document_from_the_cache(
    cursor: duckdb.DuckDBPyConnection,
) -> None:
    found = opportunities(cursor, current_book(cursor), WINDOW, UNITS, kinds=("prompt_caching",))
    (cached,) = found.opportunities
    assert (cached.feature, cached.model, cached.group.calls) == (
        "docs",
        "claude-3-5-haiku-latest",
        3,
    )
    haiku = {"model": "claude-3-5-haiku-latest", "provider": "anthropic"}
    recorded = sum(price(input_tokens=n, output_tokens=100, **haiku) for n in (3000, 3300, 3600))
    # Turn 1 writes its 3,000 tokens; turn 2 reads them and writes its 300 new ones;
    # turn 3 reads turn 2's 3,300 and nobody resends it, so it writes nothing.
    cached_cost = (
        price(input_tokens=3000, cache_write_tokens=3000, output_tokens=100, **haiku)
        + price(
            input_tokens=3300, cache_read_tokens=3000, cache_write_tokens=300, output_tokens=100,
            **haiku,
        )
        + price(input_tokens=3600, cache_read_tokens=3300, output_tokens=100, **haiku)
    )  # fmt: skip
    assert (cached.group.recorded_usd, cached.group.what_if_usd) == (recorded, cached_cost)
    assert cached.group.saving.usd == per_month(recorded - cached_cost)


def test_batch_is_the_traffic_nobody_waits_for(cursor: duckdb.DuckDBPyConnection) -> None:
    found = opportunities(cursor, current_book(cursor), WINDOW, UNITS, kinds=("batch",))
    by_feature = {o.feature: o.group for o in found.opportunities}
    # chat and docs are interactive sessions
    assert set(by_feature) == {"nightly", "webhook", "digest"}
    for feature, tokens in (("nightly", 100_000), ("webhook", 80_000), ("digest", 60_000)):
        cost = price("gpt-4o-mini", input_tokens=tokens, output_tokens=100)
        assert (by_feature[feature].recorded_usd, by_feature[feature].what_if_usd) == (
            cost,
            cost / 2,
        )


def test_the_opportunities_are_ranked_and_swaps_only_to_a_model_that_served(
    cursor: duckdb.DuckDBPyConnection,
) -> None:
    found = opportunities(cursor, current_book(cursor), WINDOW, UNITS)
    savings = [o.group.saving.usd for o in found.opportunities]
    assert savings == sorted(savings, reverse=True)
    swaps = [o for o in found.opportunities if o.kind == "model_swap"]
    assert [(o.feature, o.model, o.to_model) for o in swaps] == [("chat", "gpt-4o", "gpt-4o-mini")]
    assert "gpt-4o-mini: value-unit success 50.0% of 2 sessions" in (swaps[0].evidence_note or "")


def test_the_monthly_interval_is_a_bootstrap_over_days() -> None:
    steady = monthly({day: Decimal(2) for day in range(10)}, 10, 0.9)
    assert steady.usd == steady.low_usd == steady.high_usd == Decimal(2) * DAYS_PER_MONTH
    lumpy = monthly({0: Decimal(20)}, 10, 0.9)  # one day of ten: same mean, wide interval
    assert lumpy.usd == steady.usd
    assert lumpy.low_usd == 0 and lumpy.high_usd > lumpy.usd
    assert monthly({0: Decimal(20)}, 10, 0.9) == lumpy  # a fixed seed: reproducible
    assert monthly({0: Decimal(20)}, 10, 0.5).high_usd < lumpy.high_usd
    assert history_days(NOW - dt.timedelta(days=9, hours=1), NOW) == 10
    assert history_days(None, NOW) == 1
    decades = monthly({0: Decimal(1)}, 20_000, 0.9)  # in chunks, not 40 million at once
    assert decades.low_usd <= decades.usd <= decades.high_usd


def test_tokenizer_ratios_only_where_published() -> None:
    same = tokenizer_ratio(("openai", "gpt-4o-2024-08-06"), ("openai", "gpt-4o-mini"))
    assert same.published and same.ratio == 1 and "o200k_base" in same.basis
    across = tokenizer_ratio(("openai", "gpt-4o"), ("anthropic", "claude-3-5-haiku-latest"))
    assert not across.published and across.ratio == 1 and "assumed" in across.basis
    old = tokenizer_ratio(("openai", "gpt-4"), ("openai", "gpt-4o"))  # cl100k vs o200k
    assert not old.published
