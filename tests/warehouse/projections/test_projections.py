"""Projections from measured drivers on a real DuckDB: sessions (or requests) per day, calls
per session, tokens and cost per call, a change of model mix priced with the price book, the
tenant scope, and the self-hosted break-even."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from warehouse.core.errors import InvalidRequest
from warehouse.projections import parse_swap, project
from warehouse.projections.drivers import FeatureDrivers, ModelUsage
from warehouse.projections.project import FeatureProjection
from warehouse.projections.selfhosted import Deployment, deployments
from warehouse.queries.gpu import standard_rates
from warehouse.store.database import Database
from warehouse.store.scope import TenantScope

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)  # the drivers: Nov 15 to 21
FIRST = dt.datetime(2026, 11, 15)


def _usage(calls: int, cost: str, input_tokens: int, cache_read: int) -> tuple[object, ...]:
    return (
        calls, 0, 0, calls * input_tokens, calls * 100, calls * cache_read, 0, 0,
        Decimal(cost), None, 0,
    )  # fmt: skip


def _world(database: Database) -> None:
    """A week of support (acme: 10 sessions a day, 3 gpt-4o calls each, $0.01 a call) and
    of a batch job (no sessions: 24 requests a day, one call each), and spend outside it."""
    cursor = database.cursor()
    hourly, traces = [], []
    for n in range(8):  # the 8th day is today: not a driver
        day = FIRST + dt.timedelta(days=n)
        hourly.append(
            (day + dt.timedelta(hours=9), "support", "openai", "gpt-4o", "acme", "prod", None,
             *_usage(30, "0.30", 1000, 200), day, day)
        )  # fmt: skip
        hourly.append(
            (day + dt.timedelta(hours=3), "batch", "openai", "gpt-4o-mini", None, "prod", None,
             *_usage(24, "0.024", 500, 0), day, day)
        )  # fmt: skip
        for s in range(10):
            traces.append(
                (bytes([n, s]) * 8, f"s-{n}-{s}", "u", "acme", day.date(), "support", "prod",
                 *_usage(3, "0.03", 1000, 200), day, day)
            )  # fmt: skip
        for r in range(24):
            traces.append(
                (bytes([n, r, 1]) * 4 + b"batch", None, None, None, day.date(), "batch", "prod",
                 *_usage(1, "0.001", 500, 0), day, day)
            )  # fmt: skip
    cursor.executemany(f"INSERT INTO rollup_hourly VALUES ({', '.join('?' * 20)})", hourly)
    cursor.executemany(f"INSERT INTO rollup_traces VALUES ({', '.join('?' * 20)})", traces)


def test_drivers_and_levels(database: Database) -> None:
    _world(database)
    found = project(database.cursor(), NOW, Decimal(10))
    assert (found.start, found.end) == (
        dt.datetime(2026, 11, 15, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 22, tzinfo=dt.UTC),
    )
    support, batch = found.features
    assert support.drivers.feature == "support" and support.drivers.unit == "session"
    assert support.units_per_day == 10 and support.calls_per_unit == 3
    assert support.tokens_per_call("input") == 1000 and support.cache_share == Decimal("0.2")
    assert support.cost_per_call == Decimal("0.01")
    assert batch.drivers.unit == "request" and batch.units_per_day == 24
    assert batch.calls_per_unit == 1
    # Sessions x calls x cost per call, times the multiplier.
    assert found.per_day(Decimal(1)) == {"support": Decimal("0.3"), "batch": Decimal("0.024")}
    assert found.per_day(Decimal(100))["support"] == Decimal(30)
    assert found.levels == (Decimal(1), Decimal(10), Decimal(100))
    assert found.dominant(Decimal(100)) == "support"
    # A tenant sees its own features only; an environment with no traffic, nothing.
    acme = project(database.cursor(), NOW, Decimal(3), scope=TenantScope("acme"))
    assert [f.drivers.feature for f in acme.features] == ["support"]
    assert acme.levels == (Decimal(1), Decimal(3), Decimal(10), Decimal(100))
    staging = project(database.cursor(), NOW, Decimal(1), filters={"environment": "staging"})
    assert staging.features == ()
    acme_only = project(database.cursor(), NOW, Decimal(3), filters={"tenant": "acme"})
    assert acme_only.per_day(Decimal(3)) == acme.per_day(Decimal(3))


def test_a_fresh_install_counts_per_day_of_data(database: Database) -> None:
    _world(database)  # from Nov 15: two complete days before the 17th
    found = project(database.cursor(), dt.datetime(2026, 11, 17, 8, tzinfo=dt.UTC), Decimal(1))
    assert found.days == 2 and found.start == dt.datetime(2026, 11, 15, tzinfo=dt.UTC)
    assert found.features[0].units_per_day == 10  # not 20 sessions spread over 7 days


def test_a_swap_prices_the_moved_share_with_the_price_book(database: Database) -> None:
    _world(database)
    cursor = database.cursor()
    found = project(cursor, NOW, Decimal(1), [parse_swap("gpt-4o:gpt-4o-mini:0.5")])
    support = found.features[0]
    mini = standard_rates(cursor, "openai", "gpt-4o-mini", found.end)
    # 210 calls of 800 fresh input, 200 cached and 100 output tokens: half of them move.
    moved = 105 * (800 * mini.input_mtok + 200 * mini.cache_read_mtok + 100 * mini.output_mtok)
    assert support.swap_delta_usd == moved / 1_000_000 - Decimal("1.05")
    assert support.api_usd == Decimal("2.1") + support.swap_delta_usd
    assert [(m.model, m.calls_share) for m in support.mix] == [
        ("gpt-4o", Decimal("0.5")),
        ("gpt-4o-mini", Decimal("0.5")),
    ]
    # The batch job's mini calls are not touched; a swap with a provider named works too.
    assert found.features[1].swap_delta_usd == 0
    again = project(cursor, NOW, Decimal(1), [parse_swap("openai/gpt-4o:openai/gpt-4o-mini:0.5")])
    assert again.features[0].api_usd == support.api_usd


@pytest.mark.parametrize(
    ("swap", "message"),
    [
        ("gpt-4o:gpt-4o-mini", "expected MODEL_A:MODEL_B:SHARE"),
        ("gpt-4o:gpt-4o-mini:half", "is not a number"),
        ("gpt-4o:gpt-4o-mini:1.5", "at most 1"),
        ("gpt-4o:gpt-4o-mini:NaN", "at most 1"),
        ("claude-3:gpt-4o-mini:0.5", "no calls of claude-3"),
        ("gpt-4o:no-such-model-xyz:0.5", "no price for model no-such-model-xyz"),
    ],
)
def test_bad_swaps_say_what_is_wrong(database: Database, swap: str, message: str) -> None:
    _world(database)
    with pytest.raises(InvalidRequest, match=message):
        project(database.cursor(), NOW, Decimal(1), [parse_swap(swap)])


def test_the_multiplier_must_be_positive(database: Database) -> None:
    with pytest.raises(InvalidRequest, match="multiplier"):
        project(database.cursor(), NOW, Decimal(0))


def test_self_hosted_break_even() -> None:
    # $70 of GPUs over the week at 5 % busy; the same tokens cost $7 at the API.
    idle = Deployment("vllm", "openai/gpt-4o-mini", Decimal(70), Decimal(7), Decimal("0.05"))
    assert idle.break_even == 10 and idle.full_at == 20
    assert idle.gpu_cost_at(Decimal(10)) == 70 == idle.api_cost_at(Decimal(10))
    assert idle.gpu_cost_at(Decimal(100)) == 350 < idle.api_cost_at(Decimal(100))  # 5 x GPUs
    # Half busy already: full at 2x, and a full GPU still costs more than the API.
    busy = Deployment("vllm", "openai/gpt-4o-mini", Decimal(70), Decimal(7), Decimal("0.5"))
    assert busy.break_even is None
    assert busy.gpu_cost_at(Decimal(100)) > busy.api_cost_at(Decimal(100))
    # A feature on it: its share of the GPUs costs the same until they are full.
    usage = ModelUsage("vllm", "llama", 70, 70, 7000, 700, 0, 0, Decimal(0))
    drivers = FeatureDrivers("batch", "request", 70, (usage,), {"vllm": Decimal(35)})
    feature = FeatureProjection(drivers, 7, Decimal(0), Decimal(0), ())
    fleet = {"vllm": idle}
    assert feature.per_day(Decimal(10), fleet) == 5 and feature.per_day(Decimal(40), fleet) == 10


def test_deployments_read_the_gpu_pages_figures(database: Database) -> None:
    cursor = database.cursor()
    cursor.execute(
        "INSERT INTO gpu_deployment_hourly VALUES (?, 'vllm', 1, 3600000, 360000, 0, "
        "710000000, 639000000, 2000000, 1000000, NULL, NULL, NULL)",
        [FIRST],
    )
    (found,) = deployments(cursor, FIRST, FIRST + dt.timedelta(days=7), "openai/gpt-4o-mini")
    mini = standard_rates(cursor, "openai", "gpt-4o-mini", FIRST + dt.timedelta(days=7))
    assert found.gpu_cost_usd == Decimal("0.71") and found.utilization == Decimal("0.1")
    assert found.reference_cost_usd == (2 * mini.input_mtok + mini.output_mtok)
    with pytest.raises(InvalidRequest, match="no price for reference model"):
        deployments(cursor, FIRST, FIRST + dt.timedelta(days=7), "openai/no-such-model-xyz")
