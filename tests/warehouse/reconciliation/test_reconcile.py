"""Bill against spans in a real warehouse: each injected difference found with its size,
the parts adding up to the gap, causes named per row, and the `reconciliation_gap` detector
opening incidents through the alert lifecycle and going quiet once the price is fixed."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from sample_data.bills import BilledCall, dumps, list_prices, openai_pages
from sample_data.harness.bill_scenario import DISCOUNTED, build, found
from sample_data.harness.span_warehouse import SpanWarehouse
from warehouse.detection import config as detection_config
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.pricing import job as pricing
from warehouse.pricing.pricebook import Override
from warehouse.reconciliation import detector
from warehouse.reconciliation.compute import ZERO
from warehouse.reconciliation.config import RECONCILIATION, ReconciliationConfig
from warehouse.reconciliation.formats import parse_bill, sha256
from warehouse.reconciliation.load import reconciliation
from warehouse.reconciliation.store import import_bill
from warehouse.rollups import job as rollups
from warehouse.store.database import Database

NOW = dt.datetime(2026, 11, 10, 6, tzinfo=dt.UTC)
FIRST = dt.date(2026, 11, 6)  # three days, inside the detector's 7-day window
CONFIG = ReconciliationConfig()


def load(cursor: duckdb.DuckDBPyConnection, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        import_bill(cursor, parse_bill(content, name), name, sha256(content), NOW)


@pytest.fixture
def scenario_cursor(database: Database) -> Any:
    scenario = build(FIRST, days=3, calls_per_day=80, seed=3)
    cursor = database.cursor()
    SpanWarehouse(cursor).ingest(scenario.instrumented, NOW)
    load(cursor, scenario.files)
    return scenario, cursor


def test_each_injected_difference_is_found_with_its_size(scenario_cursor: Any) -> None:
    scenario, cursor = scenario_cursor
    rows = reconciliation(cursor, FIRST, FIRST + dt.timedelta(days=3), CONFIG)
    assert {r.provider for r in rows} == {"openai", "anthropic", "aws.bedrock"}
    assert len(rows) == 3 * 4
    got = found(rows)
    for name, injected in scenario.expected.items():
        assert injected != 0
        assert abs(got[name] - injected) <= abs(injected) * Decimal("0.005"), (name, got, injected)
    for row in rows:
        assert sum(row.parts.values(), ZERO) == row.gap_usd  # exactly
        assert row.billed_usd is not None and row.gap_usd == row.billed_usd - row.span_usd
    discounted = [r for r in rows if r.model == "gpt-4o-mini"]
    assert {r.cause for r in discounted} == {"price_differs"}
    assert all("negotiated discount missing" in r.explanation for r in discounted)
    assert all(r.rate_ratio is not None and abs(r.rate_ratio - Decimal("0.85")) < 1e-9
               for r in discounted)  # fmt: skip
    tiered = [r for r in rows if r.model.startswith("claude-3-5-haiku")]
    assert all("tier batch" in r.explanation for r in tiered)
    plain = [r for r in rows if r.model == "gpt-4o" and r.cause != "matched"]
    assert plain and {r.cause for r in plain} == {"traffic_not_instrumented"}


def test_tokens_counted_differently_and_unpriced_calls(database: Database) -> None:
    cursor = database.cursor()
    day = dt.datetime.combine(FIRST, dt.time(10))
    # The provider metered cache reads; the instrumentation never reported them (its input
    # count is right, but every token is priced as uncached input).
    metered = [BilledCall(day, "openai", "gpt-4o", 10_000, 500, 6_000) for _ in range(20)]
    seen = [BilledCall(day, "openai", "gpt-4o", 10_000, 500) for _ in range(20)]
    # A model the catalog does not know: spendscope holds its calls but cannot price them.
    metered += [BilledCall(day, "openai", "acme-private-llm", 1000, 100) for _ in range(5)]
    seen += [BilledCall(day, "openai", "acme-private-llm", 1000, 100) for _ in range(5)]
    SpanWarehouse(cursor).ingest(seen, NOW)
    prices = {
        "gpt-4o": list_prices("openai", "gpt-4o", day),
        "acme-private-llm": dict.fromkeys(("input", "cache_read", "cache_write", "output"),
                                          Decimal("1")),
    }  # fmt: skip
    usage, costs = openai_pages(metered, lambda call: prices[call.model])
    load(cursor, {"openai.json": dumps({"usage": usage, "costs": costs})})
    rows = {r.model: r for r in reconciliation(cursor, FIRST, FIRST + dt.timedelta(days=1), CONFIG)}
    counted = rows["gpt-4o"]
    assert counted.cause == "tokens_counted_differently"
    assert counted.gap_usd < 0 and counted.parts["tokens_counted_differently"] == counted.gap_usd
    assert "cache_read" in counted.explanation or "input" in counted.explanation
    assert counted.spans.calls == counted.bill.requests == 20  # same requests, other tokens
    unpriced = rows["acme-private-llm"]
    assert unpriced.cause == "unpriced_calls" and unpriced.spans.unpriced_calls == 5
    assert unpriced.parts["unpriced_calls"] == unpriced.gap_usd == Decimal("0.0055")


def test_spans_the_bill_does_not_have_and_days_it_does_not_cover(database: Database) -> None:
    cursor = database.cursor()
    day = dt.datetime.combine(FIRST, dt.time(10))
    SpanWarehouse(cursor).ingest(
        [
            BilledCall(day, "openai", "gpt-4o", 1000, 100),
            BilledCall(day, "openai", "gpt-4o-mini", 1000, 100),  # not on the bill
            BilledCall(day + dt.timedelta(days=1), "openai", "gpt-4o", 1000, 100),  # no bill
        ],
        NOW,
    )
    usage, costs = openai_pages([BilledCall(day, "openai", "gpt-4o", 1000, 100)])
    load(cursor, {"openai.json": dumps({"usage": usage, "costs": costs})})
    rows = reconciliation(cursor, FIRST, FIRST + dt.timedelta(days=2), CONFIG)
    assert [(r.day, r.model, r.cause) for r in rows] == [
        (FIRST, "gpt-4o-mini", "traffic_not_on_bill"),
        (FIRST, "gpt-4o", "matched"),
    ]
    assert rows[0].billed_usd == 0 and rows[0].gap_usd == -rows[0].span_usd


def incidents(cursor: duckdb.DuckDBPyConnection) -> dict[str, str]:
    run_job(cursor, JOBS["alert_lifecycle"], NOW)
    return dict(
        cursor.execute(
            "SELECT series, status FROM alert_incidents WHERE kind = 'reconciliation_gap'"
        ).fetchall()
    )


def test_the_detector_opens_incidents_and_goes_quiet_once_priced(scenario_cursor: Any) -> None:
    _, cursor = scenario_cursor
    cursor.begin()
    detection_config.store(
        cursor, RECONCILIATION, {"min_gap_share": 0.05, "min_gap_usd": "0.01"}, NOW
    )
    cursor.commit()
    run_job(cursor, JOBS[detector.NAME], NOW)
    signals = cursor.execute(
        "SELECT series, direction, details FROM alert_signals WHERE kind = 'reconciliation_gap'"
    ).fetchall()
    by_series = {s: (d, json.loads(details)) for s, d, details in signals}
    mini = "reconciliation:provider=openai|model=gpt-4o-mini"
    assert set(by_series) == {
        mini,
        "reconciliation:provider=anthropic|model=claude-3-5-haiku-latest",
    }
    direction, details = by_series[mini]
    assert direction == "down" and details["cause"] == "price_differs"
    assert "add a price override" in details["hint"]
    assert incidents(cursor) == dict.fromkeys(by_series, "open")

    # The negotiated price, as an override: re-priced, the gap is the 3 % untracked only.
    rates = list_prices(*DISCOUNTED, dt.datetime.combine(FIRST, dt.time()))
    override = Override(
        "openai", "gpt-4o-mini", "exact", rates["input"] * Decimal("0.85"),
        rates["output"] * Decimal("0.85"), cache_read_mtok=rates["cache_read"] * Decimal("0.85"),
    )  # fmt: skip
    cursor.begin()
    pricing.add_override(cursor, override, "api", NOW)
    cursor.commit()
    for name in (pricing.NAME, rollups.NAME):
        run_job(cursor, JOBS[name], NOW)
    before = cursor.execute("SELECT max(id) FROM alert_signals").fetchone()
    run_job(cursor, JOBS[detector.NAME], NOW + dt.timedelta(minutes=1))
    fired = cursor.execute(
        "SELECT series FROM alert_signals WHERE id > ?", [before[0] if before else 0]
    ).fetchall()
    assert fired == [("reconciliation:provider=anthropic|model=claude-3-5-haiku-latest",)]
