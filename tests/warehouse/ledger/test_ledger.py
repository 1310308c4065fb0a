"""The live ledger: its spend equals what the pricing job computes for the same spans (per
session, feature, tenant, with unpriced calls counted apart), layers and re-sent spans count
once, calls whose dimensions arrive later are attributed when they do, a restart's seed gives
the same figures, and the check denies exactly at a limit."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client import CollectorRegistry

from collector.ingest.normalize import Normalizer
from collector.ingest.traces.decode import PROTOBUF, decode_traces
from collector.ingest.traces.writer import Writer
from collector.service_metrics import IngestMetrics
from sample_data.harness import otlp
from warehouse.detection.budgets import Budget
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.ledger.feed import LedgerFeed
from warehouse.ledger.ledger import Dimensions, LiveLedger
from warehouse.ledger.limits import CheckLimits
from warehouse.ledger.seed import seed
from warehouse.pricing.job import current_book
from warehouse.spans.insert import insert_spans, last_batch_id
from warehouse.store.database import Database

DAY = dt.datetime(2026, 11, 3, 9)
NOW = DAY + dt.timedelta(hours=3)
NAMES = {"session": "session.id", "tenant": "spendscope.tenant", "feature": "spendscope.feature"}
Figures = dict[tuple[str, str], tuple[Decimal, int, int]]


def nanos(moment: dt.datetime) -> int:
    return int(moment.replace(tzinfo=dt.UTC).timestamp()) * 10**9


def call(trace: int, number: int, model: str, usage: dict[str, int], *, parent: int | None = None,
         minute: int = 0, **dims: str) -> Span:  # fmt: skip
    attributes: dict[str, str | int] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        **{f"gen_ai.usage.{key}": value for key, value in usage.items()},
    }
    names = {
        "session": "session.id",
        "tenant": "spendscope.tenant",
        "feature": "spendscope.feature",
    }
    attributes |= {names[key]: value for key, value in dims.items()}
    span = otlp.span(trace, number, parent, name=f"chat {model}", attributes=attributes)
    start = nanos(DAY + dt.timedelta(minutes=minute))
    span.start_time_unix_nano, span.end_time_unix_nano = start, start + 10**9
    return span


def root(trace: int, number: int, **dims: str) -> Span:
    names = {
        "session": "session.id",
        "tenant": "spendscope.tenant",
        "feature": "spendscope.feature",
    }
    span = otlp.span(trace, number, attributes={names[k]: v for k, v in dims.items()})
    span.start_time_unix_nano, span.end_time_unix_nano = nanos(DAY), nanos(DAY) + 10**9
    return span


def table(spans: list[Span]) -> pa.Table:
    decoded = decode_traces(otlp.request(spans).SerializeToString(), PROTOBUF, Normalizer())
    assert decoded.rejected == 0, decoded.rejection_message
    return decoded.table


def store(database: Database, batch: pa.Table) -> None:
    cursor = database.cursor()
    cursor.begin()
    insert_spans(cursor, batch, last_batch_id(cursor) + 1, NOW)
    cursor.commit()


def jobs_figures(database: Database) -> Figures:
    cursor = database.cursor()
    for job in JOBS.values():
        run_job(cursor, job, NOW)
    rows = cursor.execute(
        """
        SELECT coalesce(m.tenant_id, ''), m.session_id, coalesce(sum(c.cost_usd), 0),
               count(*), count(*) FILTER (WHERE NOT c.priced)
        FROM call_costs c JOIN model_calls m USING (trace_id, span_id) GROUP BY ALL
        """
    ).fetchall()
    return {(t, s): (Decimal(cost), calls, unpriced) for t, s, cost, calls, unpriced in rows}


def ledger_figures(
    ledger: LiveLedger, keys: object
) -> dict[tuple[str, str], tuple[Decimal, int, int]]:
    found = {}
    for tenant, session in keys:  # type: ignore[attr-defined]
        tally = ledger.session(tenant or None, session)
        found[(tenant, session)] = (tally.spend_usd, tally.calls, tally.unpriced_calls)
    return found


MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "o3-mini",
    "claude-3-5-sonnet-latest",
    "gemini-1.5-pro",
    "no-such",
]


def usage(rng: random.Random) -> dict[str, int]:
    found = {"input_tokens": rng.randint(0, 300_000), "output_tokens": rng.randint(0, 20_000)}
    if rng.random() < 0.4:
        found["cache_read.input_tokens"] = rng.randint(0, found["input_tokens"])
    if rng.random() < 0.3:
        found["reasoning.output_tokens"] = rng.randint(0, found["output_tokens"])
    if rng.random() < 0.1:
        found = {}  # no usage reported: unpriced, never $0
    return found


def test_live_spend_is_the_pricing_jobs_spend(database: Database) -> None:
    rng = random.Random(19)
    spans = [
        call(n + 1, 1, rng.choice(MODELS), usage(rng), session=f"s{n % 4}", tenant=f"t{n % 2}",
             minute=n)
        for n in range(60)
    ]  # fmt: skip
    batch = table(spans)
    store(database, batch)
    feed = LedgerFeed(LiveLedger(), current_book(database.cursor()))
    feed.record(batch)
    expected = jobs_figures(database)
    assert {calls for _, calls, _ in expected.values()} != {0}
    assert any(unpriced for _, _, unpriced in expected.values())
    assert ledger_figures(feed.ledger, expected) == expected
    # A restart: the seed from what the jobs priced gives the same figures.
    restarted = LedgerFeed(LiveLedger())
    seed(database.cursor(), restarted, NOW)
    assert ledger_figures(restarted.ledger, expected) == expected


def test_layers_and_resent_spans_count_once(database: Database) -> None:
    tokens = {"input_tokens": 1000, "output_tokens": 100}
    outer = call(1, 1, "gpt-4o", tokens, session="s", tenant="t")  # a framework span
    inner = call(1, 2, "gpt-4o", tokens, parent=1)  # the client library's, same usage
    other = call(1, 3, "gpt-4o", {"input_tokens": 10, "output_tokens": 1}, parent=1)
    feed = LedgerFeed(LiveLedger(), current_book(database.cursor()))
    batch = table([outer, inner, other])
    # Through the real span writer: a re-sent export adds nothing.
    writer = Writer(database, IngestMetrics(CollectorRegistry()), max_queued_spans=10_000,
                    max_commit_spans=10_000, feed=feed)  # fmt: skip
    writer.start()
    try:
        writer.submit(batch).result(30)
        writer.submit(batch).result(30)
        writer.submit(table([inner])).result(30)
    finally:
        writer.stop(30)
    assert feed.calls == 2 and feed.layers_skipped == 1
    expected = jobs_figures(database)
    assert ledger_figures(feed.ledger, expected) == expected


def test_calls_wait_for_the_span_that_names_their_session(database: Database) -> None:
    feed = LedgerFeed(LiveLedger(), current_book(database.cursor()))
    tokens = {"input_tokens": 2000, "output_tokens": 300}
    feed.record(
        table([call(1, 2, "gpt-4o", tokens, parent=1), call(1, 3, "gpt-4o", tokens, parent=1)])
    )
    ledger = feed.ledger
    total = Budget("all", "total", None, "day", Decimal(100))
    spent = ledger.period(total, DAY).spend_usd
    assert spent > 0 and ledger.session("acme", "s1").calls == 0
    # The agent's root span ends last: its session and tenant reach the waiting calls.
    feed.record(table([root(1, 1, session="s1", tenant="acme")]))
    assert ledger.session("acme", "s1").spend_usd == spent
    assert ledger.period(total, DAY).spend_usd == spent  # the totals count them once
    assert ledger.session(None, "s1").calls == 0  # session ids are per tenant


def test_the_check_denies_once_a_limit_is_reached() -> None:
    daily = Budget("search-daily", "feature", "search", "day", Decimal("1.00"))
    acme = Budget("acme-monthly", "tenant", "acme", "month", Decimal("5"))
    ledger = LiveLedger(CheckLimits(Decimal("0.50"), {"search": Decimal("0.75")}, (daily, acme)))
    dims = Dimensions("acme", "s1", "chat")
    ledger.credit(dims, DAY, Decimal("0.4999"))
    first = ledger.check(NOW, tenant_id="acme", session_id="s1", feature="chat")
    assert first.allowed
    assert [(s.scope, s.remaining_usd) for s in first.scopes] == [
        ("session", Decimal("0.0001")),
        ("tenant", Decimal("4.5001")),
    ]
    ledger.credit(dims, DAY, Decimal("0.0001"))  # exactly the limit: denied
    second = ledger.check(NOW, tenant_id="acme", session_id="s1", feature="chat")
    assert not second.allowed and [s.scope for s in second.denied_by] == ["session"]
    # The feature's own session limit; the same session id of another tenant is another.
    assert ledger.check(NOW, tenant_id="acme", session_id="s1", feature="search").allowed
    assert ledger.check(NOW, tenant_id="globex", session_id="s1", feature="chat").allowed
    # A feature's day: yesterday's spend is not today's.
    ledger.credit(Dimensions("globex", "s2", "search"), DAY - dt.timedelta(days=1), Decimal(3))
    ledger.credit(Dimensions("globex", "s3", "search"), DAY, Decimal(1))
    found = ledger.check(NOW, tenant_id="globex", session_id="s9", feature="search")
    assert [s.scope for s in found.denied_by] == ["feature"]
    # Pruning forgets idle sessions and old periods, not today's.
    ledger.prune(DAY + dt.timedelta(days=8))
    assert ledger.session("acme", "s1").calls == 0


def test_the_detection_file_section_is_checked(tmp_path: Path) -> None:
    from warehouse.config.detection_file import DetectionFileError, parse

    budget = {"name": "b", "scope": "feature", "value": "f", "period": "day", "amount_usd": "1"}
    good = parse({"budgets": [budget], "budget_check": {"session_usd": "2", "enforce": ["b"]}}, "f")
    assert good.budget_check == {"session_usd": "2", "enforce": ["b"]}
    for section, message in (
        ({"session_usd": "-1"}, "session_usd must be a positive amount in USD, got '-1'"),
        ({"enforce": ["nope"]}, "enforce names no [[budgets]] entry: 'nope'"),
        ({"feature_session_usd": {"a": "x"}}, "feature_session_usd.a must be a positive"),
        ({"limit": 1}, "unknown field(s) limit"),
    ):
        with pytest.raises(DetectionFileError) as failed:
            parse({"budget_check": section}, "detection.toml")
        assert any(message in error for error in failed.value.errors), failed.value.errors
