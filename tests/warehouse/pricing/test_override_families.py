"""Overrides that match like the catalog matches: a family name covers its dated snapshots and
aliases (exact beats family beats pattern), an end date, tiers; catalog models priced at $0
are priced. On a real warehouse, every cost checked to the last digit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from collector.api.deps import ApiContext, install
from collector.api.routers import prices as prices_api
from collector.auth import TokenSet
from collector.cli.main import cli
from tests.warehouse.pricing.test_pricing import MTOK, Call, Warehouse, expected
from warehouse.config.price_file import PriceFileError, load_price_file
from warehouse.pricing.coverage import family_covers, is_family_name, stripped_names
from warehouse.pricing.pricebook import Catalog, Override, OverrideTier
from warehouse.store.database import Database

DAY = dt.datetime(2025, 10, 1, tzinfo=dt.UTC)
NAIVE_DAY = DAY.replace(tzinfo=None)


@pytest.fixture
def wh(database: Database) -> Iterator[Warehouse]:
    warehouse = Warehouse(database)
    yield warehouse
    warehouse.cursor.close()


def price(input_mtok: str, output_mtok: str, provider: str, model: str, **kw: object) -> Override:
    return Override(provider, model, "exact", Decimal(input_mtok), Decimal(output_mtok), **kw)  # type: ignore[arg-type]


def flat(call: Call, input_mtok: str, output_mtok: str) -> Decimal:
    assert call.input_tokens is not None and call.output_tokens is not None
    return (
        call.input_tokens * Decimal(input_mtok) + call.output_tokens * Decimal(output_mtok)
    ) * MTOK


def test_a_family_price_covers_dated_snapshots_and_aliases(wh: Warehouse) -> None:
    """The negotiated prices of docs/pricing.md apply to the names real responses carry."""
    wh.add_override(price("2.125", "8.5", "openai", "gpt-4o"))
    wh.add_override(price("2.4", "12", "anthropic", "claude-sonnet-4-5"))
    wh.add_override(price("2.4", "12", "aws.bedrock", "claude-sonnet-4-5"))
    wh.add_override(price("2", "10", "*", "claude-3-7-sonnet"))
    wh.add_override(price("0.1", "0.1", "vllm", "acme-7b"))
    covered = [
        (Call("openai", "gpt-4o-2024-08-06", DAY), ("2.125", "8.5")),
        (Call("openai", "gpt-4o-2024-11-20", DAY), ("2.125", "8.5")),
        (Call("openai", "openai/gpt-4o", DAY), ("2.125", "8.5")),
        (Call("openai", "gpt-4o", DAY), ("2.125", "8.5")),
        (Call("anthropic", "claude-sonnet-4-5-20250929", DAY), ("2.4", "12")),
        (Call("anthropic", "claude-sonnet-4-5@20250929", DAY), ("2.4", "12")),
        (Call("aws.bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", DAY), ("2.4", "12")),
        (Call("anthropic", "claude-3-7-sonnet-latest", DAY), ("2", "10")),
        (Call("anthropic", "claude-3-7-sonnet-20250219", DAY), ("2", "10")),
        (Call("vllm", "acme-7b-2025-01-15", DAY), ("0.1", "0.1")),
    ]
    catalog_priced = [
        Call("openai", "gpt-4o-mini", DAY),  # another model
        Call("openai", "gpt-4o-2024-05-13", DAY),  # the catalog: its own list price
        Call("openai", "gpt-4o-2024-08-06-ft", DAY),  # neither the catalog nor a snapshot
    ]
    ids = wh.ingest([c for c, _ in covered] + catalog_priced)
    wh.run()
    costs = wh.costs()
    for number, (call, rates) in zip(ids[: len(covered)], covered, strict=True):
        assert costs[number]["price_source"] == "override", call
        assert Decimal(costs[number]["cost_usd"]) == flat(call, *rates), call
    mini, old, unknown = ids[len(covered) :]
    for number in (mini, old):
        call = catalog_priced[ids.index(number) - len(covered)]
        assert costs[number]["price_source"] == "catalog", call
        assert Decimal(costs[number]["cost_usd"]) == expected("openai", call.model, call)
    assert costs[unknown]["unpriced_reason"] == "no_price"


def test_exact_beats_family_beats_pattern(wh: Warehouse) -> None:
    snapshot = wh.add_override(
        price("3", "3", "openai", "gpt-4o-2024-08-06", effective_from=dt.datetime(2025, 1, 1))
    )
    family = wh.add_override(
        price("2", "2", "openai", "gpt-4o", effective_from=dt.datetime(2025, 6, 1))
    )
    pattern = wh.add_override(
        Override("openai", "gpt-4o*", "glob", Decimal(1), Decimal(1), effective_from=NAIVE_DAY)
    )
    cases = [
        (Call("openai", "gpt-4o-2024-08-06", DAY), snapshot),  # exact, though older
        (Call("openai", "gpt-4o-2024-11-20", DAY), family),  # family beats a later pattern
        (Call("openai", "gpt-4o-mini", DAY), pattern),  # only the pattern covers it
        (Call("openai", "gpt-4o-2024-11-20", DAY - dt.timedelta(days=200)), None),
    ]
    ids = wh.ingest([c for c, _ in cases])
    wh.run()
    costs = wh.costs()
    for number, (call, winner) in zip(ids, cases, strict=True):
        assert costs[number]["override_id"] == winner, call


def test_end_date_and_tiers(wh: Warehouse) -> None:
    tiered = price(
        "2",
        "10",
        "anthropic",
        "claude-sonnet-4-5",
        effective_from=NAIVE_DAY,
        effective_until=NAIVE_DAY + dt.timedelta(days=30),
        tiers=(OverrideTier(200_000, Decimal(4), Decimal(15), cache_read_mtok=Decimal("0.4")),),
    )
    override_id = wh.add_override(tiered)
    model = "claude-sonnet-4-5-20250929"
    calls = [
        Call("anthropic", model, DAY - dt.timedelta(seconds=1), 1000, 100),  # before: catalog
        Call("anthropic", model, DAY, 200_000, 100),  # at the tier's start: the base
        Call("anthropic", model, DAY, 250_000, 100, cache_read_tokens=50_000),  # above: all tier
        Call("anthropic", model, DAY + dt.timedelta(days=30), 1000, 100),  # ended: catalog
    ]
    ids = wh.ingest(calls)
    wh.run()
    costs = wh.costs()
    assert costs[ids[0]]["price_source"] == costs[ids[3]]["price_source"] == "catalog"
    for number in (ids[0], ids[3]):
        call = calls[ids.index(number)]
        assert Decimal(costs[number]["cost_usd"]) == expected("anthropic", model, call)
    assert costs[ids[1]]["override_id"] == costs[ids[2]]["override_id"] == override_id
    assert Decimal(costs[ids[1]]["cost_usd"]) == (200_000 * 2 + 100 * 10) * MTOK
    assert (
        Decimal(costs[ids[2]]["cost_usd"])
        == (200_000 * 4 + 50_000 * Decimal("0.4") + 100 * 15) * MTOK
    )


def test_a_family_price_reprices_exactly_its_calls_from_its_date(wh: Warehouse) -> None:
    calls = [
        Call("openai", "gpt-4o-2024-08-06", DAY - dt.timedelta(days=1)),
        Call("openai", "gpt-4o-2024-08-06", DAY),
        Call("openai", "gpt-4o-2024-11-20", DAY + dt.timedelta(days=1)),
        Call("openai", "gpt-4o-mini-2024-07-18", DAY + dt.timedelta(days=1)),
        Call("openai", "gpt-4o-2024-05-13", DAY + dt.timedelta(days=1)),
    ]
    ids = wh.ingest(calls)
    wh.run()
    before = wh.costs()
    wh.add_override(price("2.125", "8.5", "openai", "gpt-4o", effective_from=NAIVE_DAY))
    wh.run()
    after = wh.costs()
    for number in (ids[0], ids[3], ids[4]):
        assert after[number] == before[number]  # not even re-sequenced
    for number in (ids[1], ids[2]):
        assert Decimal(after[number]["cost_usd"]) == flat(calls[ids.index(number)], "2.125", "8.5")
        assert after[number]["priced_seq"] > before[number]["priced_seq"]
    requests = wh.cursor.execute(
        "SELECT model, from_time, calls_repriced FROM reprice_requests ORDER BY model"
    ).fetchall()
    assert requests == [("gpt-4o-2024-08-06", NAIVE_DAY, 1), ("gpt-4o-2024-11-20", NAIVE_DAY, 1)]


def test_models_the_catalog_prices_at_zero_are_priced(wh: Warehouse) -> None:
    calls = [
        Call("openrouter", "meta-llama/llama-3.3-70b-instruct:free", DAY),
        Call("openai", "omni-moderation-latest", DAY),
        Call("azure.ai.inference", "phi-4-reasoning:free", DAY),
    ]
    ids = wh.ingest(calls)
    wh.run()
    costs = wh.costs()
    for number, call in zip(ids, calls, strict=True):
        assert costs[number]["priced"], call
        assert costs[number]["unpriced_reason"] is None
        assert costs[number]["cost_usd"] == 0 and costs[number]["price_source"] == "catalog"


def test_family_rules() -> None:
    catalog = Catalog()
    assert is_family_name("gpt-4o") and is_family_name("claude-sonnet-4-5")
    for snapshot in ("gpt-4o-2024-08-06", "claude-3-7-sonnet-latest", "gpt-4-0613", "x-v1:0"):
        assert not is_family_name(snapshot)
    assert stripped_names("us.anthropic.claude-sonnet-4-5-20250929-v1:0") == [
        "claude-sonnet-4-5-20250929-v1:0"
    ]
    assert stripped_names("openrouter/openai/gpt-4.1") == ["gpt-4.1"]
    # a snapshot name is no family: it covers only itself
    assert not family_covers("gpt-4o-2024-08-06", "openai", "gpt-4o-2024-11-20", catalog)
    assert family_covers("gpt-4o", "openai", "gpt-4o-2024-11-20", catalog)
    assert not family_covers("gpt-4o", "openai", "gpt-4o-2024-05-13", catalog)
    assert family_covers("gpt-4o", "openai", "gpt-4o-2024-05-13")  # by name, without catalog
    assert not family_covers("gpt-4o", "openai", "gpt-4o-mini", catalog)
    assert not family_covers("gpt-4", "openai", "gpt-4o", catalog)


def test_price_file_tiers_and_end_date(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        """
[[prices]]
provider = "anthropic"
model = "claude-sonnet-4-5"
input_mtok = "2.4"
output_mtok = "12"
effective_from = 2025-10-01
effective_until = 2026-10-01

[[prices.tiers]]
start = 200000
input_mtok = "4.8"
output_mtok = "18"
"""
    )
    (override,) = load_price_file(path)
    assert override.effective_until == dt.datetime(2026, 10, 1)
    assert override.tiers == (OverrideTier(200_000, Decimal("4.8"), Decimal("18")),)
    path.write_text(
        """
[[prices]]
provider = "openai"
model = "gpt-4o"
input_mtok = 1
output_mtok = 1
effective_from = 2025-10-01
effective_until = 2025-01-01
tiers = [{ start = 100, input_mtok = 2, output_mtok = 2 }, { start = 50, input_mtok = 3 }]
"""
    )
    with pytest.raises(PriceFileError) as caught:
        load_price_file(path)
    errors = "\n".join(caught.value.errors)
    assert "price #1 (openai/gpt-4o): effective_until: must be after effective_from" in errors
    assert "tier #2: start: must be a whole number of input tokens above 100" in errors
    assert "tier #2: output_mtok: required" in errors


def test_the_api_shows_what_each_override_covers(
    wh: Warehouse, database: Database, tmp_path: Path
) -> None:
    app = FastAPI()
    install(app, ApiContext(database, TokenSet([]), tmp_path))
    app.include_router(prices_api.router)
    client = TestClient(app)
    wh.ingest(
        [
            Call("openai", "gpt-4o-2024-08-06", DAY),
            Call("openai", "gpt-4o-2024-08-06", DAY),
            Call("openai", "gpt-4o", DAY - dt.timedelta(days=40)),
            Call("anthropic", "claude-sonnet-4-5-20250929", DAY, 300_000, 10),
        ]
    )
    wh.run()
    created = client.post(
        "/api/v1/prices",
        json={
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "input_mtok": "2.4",
            "output_mtok": "12",
            "effective_from": "2025-09-01",
            "effective_until": "2026-09-01",
            "tiers": [{"start": 200000, "input_mtok": "4.8", "output_mtok": "18"}],
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["tiers"] == [
        {
            "start": 200000,
            "input_mtok": "4.8",
            "output_mtok": "18",
            "cache_read_mtok": None,
            "cache_write_mtok": None,
            "reasoning_mtok": None,
        }
    ]
    assert created.json()["effective_until"].startswith("2026-09-01T00:00:00")
    for body in (
        {"provider": "openai", "model": "gpt-4o", "effective_from": "2025-09-01"},
        {"provider": "openai", "model": "gpt-4o-2024-08-06", "effective_from": "2025-09-01"},
        {"provider": "openai", "model": "gpt-40"},  # a typo: covers nothing
    ):
        response = client.post("/api/v1/prices", json=body | {"input_mtok": 1, "output_mtok": 1})
        assert response.status_code == 201, response.text
    wh.run()
    overrides = {o["model"]: o for o in client.get("/api/v1/prices").json()["overrides"]}
    sonnet = overrides["claude-sonnet-4-5"]
    assert sonnet["covers"] == [
        {
            "provider": "anthropic",
            "model": "claude-sonnet-4-5-20250929",
            "match": "family",
            "calls": 1,
            "priced_calls": 1,
        }
    ]
    assert sonnet["warning"] is None
    assert wh.cost(4) == (300_000 * Decimal("4.8") + 10 * 18) * MTOK  # the tier
    family = overrides["gpt-4o"]
    assert {(c["model"], c["match"], c["calls"], c["priced_calls"]) for c in family["covers"]} == {
        ("gpt-4o-2024-08-06", "family", 2, 0),
        ("gpt-4o", "exact", 0, 0),  # its one call is before the override's date
    }
    assert family["covered_calls"] == 2
    assert family["warning"] == "every call it covers is priced by a more specific override"
    assert overrides["gpt-4o-2024-08-06"]["covers"][0]["priced_calls"] == 2
    assert overrides["gpt-40"]["covers"] == [] and overrides["gpt-40"]["covered_calls"] == 0
    assert overrides["gpt-40"]["warning"] == "covers no model seen in spans"


def test_prices_check_shows_what_the_file_would_cover(
    wh: Warehouse, database: Database, tmp_path: Path
) -> None:
    wh.ingest([Call("openai", "gpt-4o-2024-08-06", DAY), Call("openai", "gpt-4o-2024-11-20", DAY)])
    wh.run()
    wh.cursor.close()
    database.close()  # as when the service is stopped
    (tmp_path / "prices.toml").write_text(
        '[[prices]]\nprovider = "openai"\nmodel = "gpt-4o"\ninput_mtok = 2\noutput_mtok = 8\n\n'
        '[[prices]]\nprovider = "openai"\nmodel = "gpt-40"\ninput_mtok = 2\noutput_mtok = 8\n'
    )
    result = CliRunner().invoke(cli, ["prices", "check", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "2 price(s) OK" in result.output
    assert (
        "price #1 (openai/gpt-4o): covers 2 model(s), 2 call(s): "
        "openai/gpt-4o-2024-08-06 (family, 1 calls), openai/gpt-4o-2024-11-20 (family, 1 calls)"
    ) in result.output
    assert "warning: price #2 (openai/gpt-40): covers no model seen in spans" in result.output
