"""Pricing on a real warehouse: spans go in through the OTLP/JSON decoder and
`insert_spans` in numbered batches, the attribution and pricing jobs run as the scheduler
runs them, and every cost is checked against genai-prices' own `calc_price`."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from genai_prices import Usage, calc_price
from genai_prices import data as catalog_data
from genai_prices.types import (
    ModelInfo,
    ModelPrice,
    Provider,
    StartDateConstraint,
    TieredPrices,
    TimeOfDateConstraint,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from collector.api import v1
from collector.api.deps import ApiContext, install
from collector.api.routers import prices as prices_api
from collector.auth import TokenSet
from collector.cli.main import cli
from collector.ingest.normalize import Normalizer
from collector.ingest.traces.decode import JSON, decode_traces
from warehouse.config.price_file import PriceFileError, load_price_file
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.pricing import job as pricing
from warehouse.pricing.pricebook import Catalog, Override
from warehouse.queries.prices import price_report
from warehouse.spans import attribution
from warehouse.spans.insert import insert_spans, last_batch_id
from warehouse.store.database import Database

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
MTOK = Decimal("0.000001")


@dataclass(frozen=True)
class Call:
    provider: str
    model: str
    start: dt.datetime
    input_tokens: int | None = 1000
    output_tokens: int | None = 100
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    reported_cost: float | None = None


def _attribute(key: str, value: str | int | float) -> dict[str, Any]:
    if isinstance(value, str):
        return {"key": key, "value": {"stringValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"doubleValue": value}}


def _nanos(instant: dt.datetime) -> int:
    delta = instant - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


class Warehouse:
    """Ingest, attribution and pricing against one real DuckDB warehouse."""

    def __init__(self, database: Database) -> None:
        self.cursor = database.cursor()
        self.normalizer = Normalizer()
        self.ids = itertools.count(1)

    def ingest(self, calls: list[Call], ids: list[int] | None = None) -> list[int]:
        """One ingest batch of one-span traces, committed; returns the calls' ids."""
        ids = ids or [next(self.ids) for _ in calls]
        spans = []
        for number, c in zip(ids, calls, strict=True):
            attributes: dict[str, str | int | float] = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": c.provider,
                "gen_ai.request.model": c.model,
            }
            for key, count in (
                ("gen_ai.usage.cache_read.input_tokens", c.cache_read_tokens),
                ("gen_ai.usage.cache_creation.input_tokens", c.cache_write_tokens),
                ("gen_ai.usage.reasoning.output_tokens", c.reasoning_tokens),
            ):
                if count:
                    attributes[key] = count
            if c.input_tokens is not None:
                attributes["gen_ai.usage.input_tokens"] = c.input_tokens
            if c.output_tokens is not None:
                attributes["gen_ai.usage.output_tokens"] = c.output_tokens
            if c.reported_cost is not None:
                attributes["gen_ai.usage.cost"] = c.reported_cost
            spans.append(
                {
                    "traceId": f"{number:032x}",
                    "spanId": f"{number:016x}",
                    "name": f"chat {c.model}",
                    "kind": 3,
                    "startTimeUnixNano": str(_nanos(c.start)),
                    "endTimeUnixNano": str(_nanos(c.start) + 10**9),
                    "attributes": [_attribute(k, v) for k, v in attributes.items()],
                }
            )
        body = {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]}
        decoded = decode_traces(json.dumps(body).encode(), JSON, self.normalizer)
        assert decoded.rejected == 0, decoded.rejection_message
        self.cursor.begin()
        insert_spans(self.cursor, decoded.table, last_batch_id(self.cursor) + 1, NOW)
        self.cursor.commit()
        return ids

    def run(self) -> int:
        run_job(self.cursor, JOBS[attribution.NAME], NOW)
        return run_job(self.cursor, JOBS[pricing.NAME], NOW)

    def costs(self) -> dict[int, dict[str, Any]]:
        result = self.cursor.execute("SELECT * FROM call_costs")
        columns = [d[0] for d in result.description]
        return {
            int.from_bytes(row[1], "big"): dict(zip(columns, row, strict=True))
            for row in result.fetchall()
        }

    def cost(self, number: int) -> Decimal | None:
        value = self.costs()[number]["cost_usd"]
        return None if value is None else Decimal(value)

    def total(self) -> tuple[Decimal, int]:
        row = self.cursor.execute("SELECT sum(cost_usd), count(*) FROM call_costs").fetchone()
        assert row is not None
        return Decimal(row[0] or 0), int(row[1])

    def add_override(self, override: Override) -> int:
        self.cursor.begin()
        override_id = pricing.add_override(self.cursor, override, "api", NOW)
        self.cursor.commit()
        return override_id


@pytest.fixture
def warehouse(database: Database) -> Iterator[Warehouse]:
    wh = Warehouse(database)
    yield wh
    wh.cursor.close()


def expected(provider_id: str, model_ref: str, call: Call) -> Decimal:
    usage = Usage(
        input_tokens=call.input_tokens or 0,
        cache_read_tokens=call.cache_read_tokens,
        cache_write_tokens=call.cache_write_tokens,
        output_tokens=call.output_tokens or 0,
        output_reasoning_tokens=call.reasoning_tokens,
    )
    result = calc_price(
        usage, model_ref=model_ref, provider_id=provider_id, genai_request_timestamp=call.start
    )
    return result.total_price


# ---- the catalog sample for the property test -------------------------------------------


def _prices(model: ModelInfo) -> list[ModelPrice]:
    if isinstance(model.prices, ModelPrice):
        return [model.prices]
    return [c.prices for c in model.prices]


def _traits(model: ModelInfo) -> set[str]:
    traits = set()
    constraints = (
        [] if isinstance(model.prices, ModelPrice) else [c.constraint for c in model.prices]
    )
    if any(isinstance(c, StartDateConstraint) for c in constraints):
        traits.add("dated")
    if any(isinstance(c, TimeOfDateConstraint) for c in constraints):
        traits.add("off-peak")
    for price in _prices(model):
        values = price.__dict__
        if any(isinstance(v, TieredPrices) for v in values.values()):
            traits.add("tiered")
        if values.get("cache_read_mtok") is not None:
            traits.add("cache-read")
        if values.get("cache_write_mtok") is not None:
            traits.add("cache-write")
        if values.get("cache_read_mtok") is None and values.get("input_mtok") is not None:
            traits.add("no-cache-price")
        if values.get("output_reasoning_mtok") is not None:
            traits.add("reasoning")
        if values.get("requests_kcount") is not None:
            traits.add("per-request")
        for v in values.values():
            if isinstance(v, Decimal) and -int(v.as_tuple().exponent) > 12:
                traits.add("long-decimal")
    return traits


def _catalog_sample(per_trait: int = 6) -> list[tuple[Provider, ModelInfo]]:
    """Models whose id resolves to themselves, with token prices: a few of every trait."""
    catalog = Catalog()
    chosen: dict[tuple[str, str], tuple[Provider, ModelInfo]] = {}
    counts: dict[str, int] = {}
    for provider in catalog_data.providers:
        for model in provider.models:
            match = catalog.find(provider.id, model.id)
            if match is None or match.model is not model or not catalog.periods(match):
                continue
            for trait in sorted(_traits(model)):
                if counts.get(trait, 0) < per_trait:
                    counts[trait] = counts.get(trait, 0) + 1
                    chosen[(provider.id, model.id)] = (provider, model)
    for must in ("dated", "off-peak", "tiered", "cache-read", "cache-write", "no-cache-price"):
        assert counts.get(must), f"the catalog sample has no {must} model"
    return list(chosen.values())


SAMPLE = _catalog_sample()


def _edges(model: ModelInfo) -> list[dt.datetime]:
    """Instants where the model's price may change: start dates and off-peak edges."""
    edges = []
    if not isinstance(model.prices, ModelPrice):
        for c in model.prices:
            if isinstance(c.constraint, StartDateConstraint):
                edges.append(dt.datetime.combine(c.constraint.start_date, dt.time(0), dt.UTC))
            if isinstance(c.constraint, TimeOfDateConstraint):
                for t in (c.constraint.start_time, c.constraint.end_time):
                    edges.append(dt.datetime.combine(dt.date(2026, 3, 3), t).astimezone(dt.UTC))
    return edges


def _thresholds(model: ModelInfo) -> list[int]:
    return sorted(
        {
            tier.start + delta
            for price in _prices(model)
            for value in price.__dict__.values()
            if isinstance(value, TieredPrices)
            for tier in value.tiers
            for delta in (0, 1)
        }
    )


@st.composite
def priced_calls(draw: st.DrawFn) -> tuple[Provider, ModelInfo, Call]:
    provider, model = draw(st.sampled_from(SAMPLE))
    edges = _edges(model)
    near_edge = draw(st.booleans())
    if edges and near_edge:
        start = draw(st.sampled_from(edges)) + dt.timedelta(
            microseconds=draw(st.sampled_from([-1, 0, 1, 3_600_000_000]))
        )
    else:
        start = draw(
            st.datetimes(
                dt.datetime(2023, 1, 1), dt.datetime(2027, 12, 31), timezones=st.just(dt.UTC)
            )
        )
    thresholds = _thresholds(model)
    near_threshold = draw(st.booleans())
    if thresholds and near_threshold:
        total_input = draw(st.sampled_from(thresholds))
    else:
        total_input = draw(st.integers(0, 1_500_000))
    cache_read = draw(st.integers(0, total_input))
    cache_write = draw(st.integers(0, total_input - cache_read))
    output = draw(st.integers(0, 200_000))
    reasoning = draw(st.integers(0, output))
    call = Call(
        provider.id,
        model.id,
        start,
        input_tokens=total_input,
        output_tokens=output,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning,
    )
    return provider, model, call


# ---- property: our cost is genai-prices' to the last digit ------------------------------


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(priced_calls(), min_size=1, max_size=12))
def test_cost_equals_genai_prices(
    warehouse: Warehouse, batch: list[tuple[Provider, ModelInfo, Call]]
) -> None:
    ids = warehouse.ingest([call for _, _, call in batch])
    warehouse.run()
    costs = warehouse.costs()
    for number, (provider, model, call) in zip(ids, batch, strict=True):
        row = costs[number]
        want = expected(provider.id, model.id, call)
        assert row["priced"], (provider.id, model.id, call)
        assert row["price_source"] == "catalog"
        assert Decimal(row["cost_usd"]) == want, (provider.id, model.id, call)
        parts = sum(
            Decimal(row[k])
            for k in (
                "input_cost_usd",
                "cache_read_cost_usd",
                "cache_write_cost_usd",
                "output_cost_usd",
                "request_cost_usd",
            )
        )
        assert parts == want


def test_sample_covers_the_hard_cases() -> None:
    traits = set().union(*(_traits(model) for _, model in SAMPLE))
    assert {"dated", "off-peak", "tiered", "cache-read", "cache-write", "long-decimal"} <= traits


# ---- unpriced, re-pricing, idempotence ---------------------------------------------------

GPT4O = ("openai", "gpt-4o")
DAY = dt.datetime(2025, 9, 1, tzinfo=dt.UTC)


def catalog_cost(call: Call) -> Decimal:
    return (
        expected(*GPT4O, call) if call.model == "gpt-4o" else expected("openai", call.model, call)
    )


def test_unknown_models_are_unpriced_with_counts(warehouse: Warehouse, database: Database) -> None:
    calls = [
        Call("openai", "acme-private-7b", DAY, input_tokens=1200, output_tokens=30),
        Call("openai", "acme-private-7b", DAY, input_tokens=800, output_tokens=20),
        Call("vllm", "llama-3.1-8b-instruct", DAY, input_tokens=50, output_tokens=5),
        Call("openai", "gpt-4o", DAY, input_tokens=None, output_tokens=None),
        Call("openai", "gpt-4o", DAY, input_tokens=10, output_tokens=10),
    ]
    ids = warehouse.ingest(calls)
    warehouse.run()
    costs = warehouse.costs()
    for number in ids[:4]:
        assert not costs[number]["priced"]
        assert costs[number]["cost_usd"] is None  # never $0
    assert costs[ids[0]]["unpriced_reason"] == "no_price"
    assert costs[ids[3]]["unpriced_reason"] == "no_usage"
    assert costs[ids[4]]["priced"]
    cursor = database.cursor()
    report = price_report(cursor)
    cursor.close()
    unpriced = {(u["provider"], u["model"], u["reason"]): u for u in report["unpriced"]}
    acme = unpriced[("openai", "acme-private-7b", "no_price")]
    assert (acme["calls"], acme["input_tokens"], acme["output_tokens"]) == (2, 2000, 50)
    assert unpriced[("vllm", "llama-3.1-8b-instruct", "no_price")]["calls"] == 1
    assert unpriced[("openai", "gpt-4o", "no_usage")]["calls"] == 1
    assert len(unpriced) == 3
    models = {(m["provider"], m["model"]): m for m in report["models"]}
    assert models[GPT4O]["catalog_model"] == "gpt-4o"
    assert models[GPT4O]["calls"] == 2 and models[GPT4O]["priced_calls"] == 1
    assert models[("openai", "acme-private-7b")]["catalog_model"] is None

    # pricing the unknown model prices its history by itself
    warehouse.add_override(Override("openai", "acme-private-*", "glob", Decimal(1), Decimal(3)))
    warehouse.run()
    assert warehouse.cost(ids[0]) == (1200 * 1 + 30 * 3) * MTOK
    assert warehouse.cost(ids[1]) == (800 * 1 + 20 * 3) * MTOK
    assert warehouse.cost(ids[2]) is None


def _history(warehouse: Warehouse) -> tuple[list[Call], list[int]]:
    calls = [
        Call("openai", "gpt-4o", DAY - dt.timedelta(days=2), 5000, 700, cache_read_tokens=1000),
        Call("openai", "gpt-4o", DAY - dt.timedelta(microseconds=1), 3000, 300),
        Call("openai", "gpt-4o", DAY, 2000, 100, cache_read_tokens=500, cache_write_tokens=0),
        Call("openai", "gpt-4o", DAY + dt.timedelta(days=3), 10_000, 900, reasoning_tokens=400),
        Call("openai", "gpt-4o-mini", DAY + dt.timedelta(days=3), 4000, 400),
    ]
    return calls, warehouse.ingest(calls)


def test_override_reprices_exactly_the_calls_after_its_date(warehouse: Warehouse) -> None:
    calls, ids = _history(warehouse)
    warehouse.run()
    before = warehouse.costs()
    for number, call in zip(ids, calls, strict=True):
        assert Decimal(before[number]["cost_usd"]) == catalog_cost(call)

    override_id = warehouse.add_override(
        Override(
            provider="openai",
            model_pattern="gpt-4o",
            match_kind="exact",
            input_mtok=Decimal("2"),
            cache_read_mtok=Decimal("0.5"),
            output_mtok=Decimal("8"),
            reasoning_mtok=Decimal("10"),
            effective_from=DAY.replace(tzinfo=None),
            note="negotiated",
        )
    )
    warehouse.run()  # no new batch: the price book change alone re-prices
    after = warehouse.costs()
    # before the effective date: untouched, not even re-sequenced
    for number in ids[:2]:
        assert after[number] == before[number]
    # gpt-4o-mini is another key: untouched
    assert after[ids[4]] == before[ids[4]]
    # from the effective date on: the override's price, exactly
    third, fourth = calls[2], calls[3]
    assert warehouse.cost(ids[2]) == (1500 * 2 + 500 * Decimal("0.5") + 100 * 8) * MTOK
    assert warehouse.cost(ids[3]) == (10_000 * 2 + 500 * 8 + 400 * 10) * MTOK
    for number in ids[2:4]:
        assert after[number]["price_source"] == "override"
        assert after[number]["override_id"] == override_id
        assert after[number]["priced_seq"] > before[number]["priced_seq"]
    assert third.start == DAY and fourth.start > DAY
    request = warehouse.cursor.execute(
        "SELECT provider, model, from_time, calls_repriced FROM reprice_requests"
    ).fetchall()
    assert request == [("openai", "gpt-4o", DAY.replace(tzinfo=None), 2)]
    # the calls before the date still point at the period that priced them
    period = before[ids[0]]["price_period_id"]
    assert warehouse.cursor.execute(
        "SELECT source, retired_at IS NOT NULL FROM price_periods WHERE id = ?", [period]
    ).fetchone() == ("catalog", True)

    # deleting the override puts the catalog price back on exactly those calls
    warehouse.cursor.begin()
    assert pricing.delete_override(warehouse.cursor, override_id)
    warehouse.cursor.commit()
    warehouse.run()
    restored = warehouse.costs()
    for number, call in zip(ids, calls, strict=True):
        assert Decimal(restored[number]["cost_usd"]) == catalog_cost(call)
        assert restored[number]["price_source"] == "catalog"
    for number in ids[:2] + ids[4:]:
        assert restored[number]["priced_seq"] == before[number]["priced_seq"]
    for number in ids[2:4]:
        assert restored[number]["priced_seq"] > after[number]["priced_seq"]


def test_rerunning_the_job_changes_nothing(warehouse: Warehouse) -> None:
    _history(warehouse)
    warehouse.run()
    warehouse.add_override(
        Override(
            "openai",
            "gpt-4o*",
            "glob",
            Decimal("1"),
            Decimal("4"),
            effective_from=DAY.replace(tzinfo=None),
        )
    )
    warehouse.run()
    snapshot = sorted(warehouse.cursor.execute("SELECT * FROM call_costs").fetchall())
    periods = warehouse.cursor.execute("SELECT count(*) FROM price_periods").fetchone()
    for _ in range(2):
        assert warehouse.run() == 0
        # the housekeeping too, called directly with a later clock
        warehouse.cursor.begin()
        assert pricing.housekeeping(warehouse.cursor, NOW + dt.timedelta(hours=1)) == 0
        warehouse.cursor.commit()
    assert sorted(warehouse.cursor.execute("SELECT * FROM call_costs").fetchall()) == snapshot
    assert warehouse.cursor.execute("SELECT count(*) FROM price_periods").fetchone() == periods


def test_resent_spans_add_no_cost(warehouse: Warehouse) -> None:
    calls, ids = _history(warehouse)
    warehouse.run()
    total, count = warehouse.total()
    assert count == len(calls) and total == sum(catalog_cost(c) for c in calls)
    warehouse.ingest(calls, ids)  # an exporter retry: the same spans again
    warehouse.ingest(calls[:2], ids[:2])
    warehouse.run()
    assert warehouse.total() == (total, count)


def test_pricing_waits_for_attribution(warehouse: Warehouse) -> None:
    _, ids = _history(warehouse)
    assert run_job(warehouse.cursor, JOBS[pricing.NAME], NOW) == 0
    assert warehouse.costs() == {}
    warehouse.run()
    assert set(warehouse.costs()) == set(ids)


def test_reported_cost_is_kept_beside_ours(warehouse: Warehouse) -> None:
    call = Call("openai", "gpt-4o", DAY, 1000, 100, reported_cost=0.1234)
    (number,) = warehouse.ingest([call])
    warehouse.run()
    row = warehouse.costs()[number]
    assert Decimal(row["reported_cost_usd"]) == Decimal("0.1234")
    assert Decimal(row["cost_usd"]) == catalog_cost(call)


def test_override_precedence(warehouse: Warehouse) -> None:
    def at(day: str) -> dt.datetime:
        return dt.datetime.fromisoformat(day)

    overrides = [
        Override(
            "openai", "gpt-4o*", "glob", Decimal(1), Decimal(1), effective_from=at("2025-01-01")
        ),
        Override(
            "openai", "GPT-4o", "exact", Decimal(2), Decimal(2), effective_from=at("2025-03-01")
        ),
        Override(
            "openai", "gpt-4o*", "glob", Decimal(3), Decimal(3), effective_from=at("2025-06-01")
        ),
        Override(
            "*", r"acme-\d+b", "regex", Decimal(5), Decimal(5), effective_from=at("2025-01-01")
        ),
    ]
    for override in overrides:
        warehouse.add_override(override)

    def call(model: str, day: str, provider: str = "openai") -> Call:
        return Call(provider, model, at(day).replace(tzinfo=dt.UTC), 1_000_000, 0)

    cases = [
        (call("gpt-4o", "2024-12-31"), None),  # before any override: the catalog
        (call("gpt-4o", "2025-02-01"), Decimal(1)),
        (call("gpt-4o", "2025-07-01"), Decimal(2)),  # exact beats a later pattern
        (call("gpt-4o-mini", "2025-02-01"), Decimal(1)),
        (call("gpt-4o-mini", "2025-07-01"), Decimal(3)),  # the later pattern wins
        (call("ACME-70b", "2025-02-01", provider="vllm"), Decimal(5)),
        (call("acme-70b-chat", "2025-02-01", provider="vllm"), "unpriced"),  # whole name
    ]
    ids = warehouse.ingest([c for c, _ in cases])
    warehouse.run()
    for number, (c, want) in zip(ids, cases, strict=True):
        if want is None:
            assert warehouse.cost(number) == catalog_cost(c)
        elif want == "unpriced":
            assert warehouse.cost(number) is None
        else:
            assert warehouse.cost(number) == want, c


# ---- the price file ----------------------------------------------------------------------

PRICE_TOML = """
[[prices]]
provider = "openai"
model = "gpt-4o"
input_mtok = "2.125"
cache_read_mtok = "1.0625"
output_mtok = 8.5
effective_from = 2025-06-01
note = "negotiated"

[[prices]]
provider = "vllm"
model = "llama-*"
match = "glob"
input_mtok = "0.05"
output_mtok = "0.05"
"""

PRICE_YAML = """
prices:
  - provider: openai
    model: gpt-4o
    input_mtok: "2.125"
    cache_read_mtok: "1.0625"
    output_mtok: 8.5
    effective_from: 2025-06-01
    note: negotiated
  - provider: vllm
    model: "llama-*"
    match: glob
    input_mtok: "0.05"
    output_mtok: "0.05"
"""


def test_price_file_toml_and_yaml_agree(tmp_path: Path) -> None:
    (tmp_path / "prices.toml").write_text(PRICE_TOML)
    (tmp_path / "prices.yaml").write_text(PRICE_YAML)
    from_toml = load_price_file(tmp_path / "prices.toml")
    from_yaml = load_price_file(tmp_path / "prices.yaml")
    assert [o.identity() for o in from_toml] == [o.identity() for o in from_yaml]
    first = from_toml[0]
    assert first.input_mtok == Decimal("2.125") and first.output_mtok == Decimal("8.5")
    assert first.effective_from == dt.datetime(2025, 6, 1)
    assert from_toml[1].match_kind == "glob" and from_toml[1].effective_from.year == 1970


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('provider = "openai"\nmodel = "gpt-4o"\noutput_mtok = "1"', "input_mtok: required"),
        ('provider = "openai"\nmodel = "x"\ninput_mtok = "-1"\noutput_mtok = "1"', "non-negative"),
        ('provider = "openai"\nmodel = "x"\ninput_mtok = "abc"\noutput_mtok = "1"', "decimal"),
        (
            'provider = "openai"\nmodel = "x("\nmatch = "regex"\ninput_mtok = 1\noutput_mtok = 1',
            "regular",
        ),
        (
            'provider = "openai"\nmodel = "x"\nmatch = "fuzzy"\ninput_mtok = 1\noutput_mtok = 1',
            "match",
        ),
        (
            'provider = "openai"\nmodel = "x"\ninput = 1\ninput_mtok = 1\noutput_mtok = 1',
            "unknown field",
        ),
        (
            'provider = "openai"\nmodel = "x"\ninput_mtok = 1\noutput_mtok = 1\n'
            'effective_from = "soon"',
            "ISO",
        ),
        ('model = "x"\ninput_mtok = 1\noutput_mtok = 1', "provider: required"),
    ],
)
def test_price_file_errors_name_the_file_and_entry(
    tmp_path: Path, entry: str, message: str
) -> None:
    path = tmp_path / "prices.toml"
    good = 'provider = "openai"\nmodel = "ok"\ninput_mtok = 1\noutput_mtok = 1'
    path.write_text(f"[[prices]]\n{good}\n\n[[prices]]\n{entry}\n")
    with pytest.raises(PriceFileError) as caught:
        load_price_file(path)
    assert len(caught.value.errors) == 1
    error = caught.value.errors[0]
    assert str(path) in error and "price #2" in error and message in error, error


def test_price_file_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("prices: [\n")
    with pytest.raises(PriceFileError, match=r"prices\.yaml: not valid YAML"):
        load_price_file(path)


def test_cli_checks_the_price_file(tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "prices.toml").write_text(PRICE_TOML)
    result = runner.invoke(cli, ["prices", "check", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "2 price(s) OK" in result.output
    (tmp_path / "prices.toml").write_text(
        PRICE_TOML.replace("output_mtok = 8.5", 'output_mtok = "x"')
    )
    result = runner.invoke(cli, ["prices", "check", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "price #1 (openai/gpt-4o): output_mtok" in result.output


# ---- the API -----------------------------------------------------------------------------


def test_api_adds_prices_and_shows_what_priced_each_call(
    warehouse: Warehouse, database: Database, tmp_path: Path
) -> None:
    app = FastAPI()
    install(app, ApiContext(database, TokenSet([]), tmp_path))
    app.include_router(v1.router)
    app.include_router(prices_api.router)
    client = TestClient(app)
    calls, ids = _history(warehouse)
    warehouse.run()

    bad = client.post(
        "/api/v1/prices",
        json={"provider": "openai", "model": "gpt-4o", "input_mtok": "-1", "output_mtok": "1"},
    )
    assert bad.status_code == 422 and "input_mtok" in bad.text
    created = client.post(
        "/api/v1/prices",
        json={
            "provider": "openai",
            "model": "gpt-4o",
            "input_mtok": "2",
            "output_mtok": "8",
            "effective_from": DAY.isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    override = created.json()
    assert override["source"] == "api" and override["input_mtok"] == "2"
    assert not client.get("/api/v1/prices").json()["up_to_date"]
    warehouse.run()

    prices = client.get("/api/v1/prices").json()
    assert prices["up_to_date"] and prices["catalog"]["name"] == "genai-prices"
    gpt4o = next(m for m in prices["models"] if (m["provider"], m["model"]) == GPT4O)
    assert gpt4o["override_calls"] == 2 and gpt4o["calls"] == 4
    assert [p["source"] for p in gpt4o["periods"]][-1] == "override"
    assert prices["reprices"][0]["calls_repriced"] == 2

    spans = client.get("/api/v1/spans", params={"trace_id": f"{ids[3]:032x}"}).json()["spans"]
    assert spans[0]["price_source"] == "override"
    assert spans[0]["price_override_id"] == override["id"]
    assert Decimal(spans[0]["cost_usd"]) == (10_000 * 2 + 900 * 8) * MTOK
    spans = client.get("/api/v1/spans", params={"trace_id": f"{ids[0]:032x}"}).json()["spans"]
    assert spans[0]["price_source"] == "catalog"
    assert Decimal(spans[0]["cost_usd"]) == catalog_cost(calls[0])

    # a file price: reloaded through the API, and not deletable through it
    (tmp_path / "prices.toml").write_text(PRICE_TOML)
    assert client.post("/api/v1/prices/reload").json()["added"] == 2
    assert client.post("/api/v1/prices/reload").json()["added"] == 0
    file_price = next(
        o for o in client.get("/api/v1/prices").json()["overrides"] if o["source"] == "file"
    )
    assert client.delete(f"/api/v1/prices/{file_price['id']}").status_code == 409
    (tmp_path / "prices.toml").write_text("[[prices]]\nprovider = 1\n")
    assert client.post("/api/v1/prices/reload").status_code == 422
    assert len(client.get("/api/v1/prices").json()["overrides"]) == 3  # unchanged

    assert client.delete(f"/api/v1/prices/{override['id']}").status_code == 204
    assert client.delete(f"/api/v1/prices/{override['id']}").status_code == 404
