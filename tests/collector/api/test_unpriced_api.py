"""Unknown is unknown: on a real warehouse holding priced calls, calls of a model the catalog
does not know, and calls of a model the catalog prices at $0, every cost aggregate the API
returns is null where none of its calls is priced (never "0"), says how much is priced
(`unpriced_calls`, `priced_calls`, `priced_share`), and its ratios cover what they say.

The pipeline (ingest, jobs, app) is `test_costs_api`'s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from collector.cli.prices import _print_report
from tests.collector.api.test_costs_api import (
    ADMIN,
    DAY0,
    HOURLY,
    WINDOW,
    Call,
    Pipeline,
    Trace,
)
from warehouse.store.database import Database

UNKNOWN = "no-such-model"  # no catalog entry: every call of it is unpriced
FREE = "omni-moderation-latest"  # the catalog prices it at $0: priced, costs 0
CALL = Decimal("0.00021")  # gpt-4o-mini: 1000 input x $0.15/M + 100 output x $0.60/M


@pytest.fixture
def world(database: Database, tmp_path: Path) -> Iterator[Pipeline]:
    """support: 3 calls (1 unpriced) in sessions s1, s4; labs: 2 calls, all unpriced (s2);
    moderation: 1 call at $0 (s3)."""
    pipeline = Pipeline(database, tmp_path)
    hour = dt.timedelta(hours=1)
    pipeline.send(Trace(1, DAY0, (Call(0), Call(1, UNKNOWN)), "support", "s1", "u1").spans())
    pipeline.send(
        Trace(2, DAY0 + hour, (Call(0, UNKNOWN), Call(1, UNKNOWN)), "labs", "s2", "u2").spans()
    )
    pipeline.send(Trace(3, DAY0 + 2 * hour, (Call(0, FREE),), "moderation", "s3", "u1").spans())
    pipeline.send(Trace(4, DAY0 + 30 * hour, (Call(0),), "support", "s4", "u1").spans())
    pipeline.run()
    for n, session in enumerate(("s1", "s4")):
        pipeline.outcome(id=f"o{n}", name="ticket_resolved", session_id=session, occurred_at=DAY0)
    yield pipeline


def covered(usage: dict[str, Any]) -> tuple[int, int, int, float | None]:
    return (
        usage["calls"],
        usage["unpriced_calls"],
        usage["priced_calls"],
        usage["priced_share"],
    )


def test_costs_are_null_where_no_call_is_priced_for_every_grouping(world: Pipeline) -> None:
    totals = world.costs()["totals"]
    assert covered(totals) == (6, 3, 3, 0.5)
    assert Decimal(totals["cost_usd"]) == 2 * CALL  # the priced sum: $0 and unpriced add none
    for grain in ("none", "hour", "day", "month"):
        for group_by in ([], *([d] for d in (*HOURLY, "user"))):
            if grain == "hour" and group_by == ["user"]:
                continue  # per-user costs are kept per day
            for row in world.costs(group_by=group_by, grain=grain)["rows"]:
                unknown = row["unpriced_calls"] == row["calls"]
                assert (row["cost_usd"] is None) == unknown, (grain, group_by, row)
                assert (row["cache_savings_usd"] is None) == unknown
                assert row["priced_share"] == row["priced_calls"] / row["calls"]

    by_feature = {r["dimensions"]["feature"]: r for r in world.costs(group_by=["feature"])["rows"]}
    assert by_feature["labs"]["cost_usd"] is None
    assert covered(by_feature["labs"]) == (2, 2, 0, 0.0)
    assert by_feature["moderation"]["cost_usd"] == "0"  # $0 in the catalog: priced, costs 0
    assert covered(by_feature["moderation"]) == (1, 0, 1, 1.0)
    assert Decimal(by_feature["support"]["cost_usd"]) == 2 * CALL
    assert covered(by_feature["support"]) == (3, 1, 2, 2 / 3)

    by_model = {r["dimensions"]["model"]: r for r in world.costs(group_by=["model"])["rows"]}
    assert by_model[UNKNOWN]["cost_usd"] is None and by_model[FREE]["cost_usd"] == "0"
    users = {r["dimensions"]["user"]: r for r in world.costs(group_by=["user"])["rows"]}
    assert users["u2"]["cost_usd"] is None and covered(users["u2"]) == (2, 2, 0, 0.0)
    labs = world.costs(feature="labs")["totals"]
    assert labs["cost_usd"] is None and labs["priced_share"] == 0
    # Nothing at all in the window is no unknown: it cost nothing.
    empty = world.get("/costs", start="2026-10-01T00:00:00Z", end="2026-10-02T00:00:00Z")
    assert (empty["totals"]["cost_usd"], empty["totals"]["priced_share"]) == ("0", None)


def test_sessions_say_what_is_priced(world: Pipeline) -> None:
    sessions = {s["session_id"]: s for s in world.get("/sessions", **WINDOW)["sessions"]}
    assert sessions["s2"]["cost_usd"] is None and covered(sessions["s2"]) == (2, 2, 0, 0.0)
    assert sessions["s1"]["cost_usd"] == "0.00021" and covered(sessions["s1"]) == (2, 1, 1, 0.5)
    assert sessions["s3"]["cost_usd"] == "0" and sessions["s3"]["priced_share"] == 1.0
    detail = world.get("/sessions/s2")
    assert detail["session"]["cost_usd"] is None
    assert detail["session"]["cache_savings_usd"] is None
    assert [c["priced"] for c in detail["calls"]] == [False, False]


def test_unit_economics_ratios_cover_what_they_say(world: Pipeline) -> None:
    body = world.get("/unit-economics", **WINDOW)
    features = {r["feature"]: r for r in body["features"]}
    support = features["support"]
    assert covered(support) == (3, 1, 2, 2 / 3)
    assert Decimal(support["cost_usd"]) == 2 * CALL
    # Per request over the priced calls: their cost over their count, not over all 3 calls.
    assert Decimal(support["cost_per_1k_requests_usd"]) == CALL * 1000
    # Per session and value unit: the priced cost over all of them (a lower bound).
    assert (support["sessions"], support["value_units"]) == (2, 2)
    assert Decimal(support["cost_per_session_usd"]) == CALL
    assert Decimal(support["cost_per_value_unit_usd"]) == CALL
    labs = features["labs"]
    assert covered(labs) == (2, 2, 0, 0.0) and labs["cost_usd"] is None
    assert labs["cost_per_1k_requests_usd"] is None and labs["cost_per_session_usd"] is None
    moderation = features["moderation"]
    assert (moderation["cost_usd"], moderation["cost_per_1k_requests_usd"]) == ("0", "0")
    search = features["search"]  # a value unit configured, no call: nothing unknown
    assert (search["cost_usd"], search["priced_share"]) == ("0", None)


def test_cache_savings_are_null_where_no_call_is_priced(world: Pipeline) -> None:
    body = world.get("/cache-savings", **WINDOW)
    assert covered(body) == (6, 3, 3, 0.5)
    assert Decimal(body["cost_usd"]) == Decimal(body["cost_without_cache_usd"]) == 2 * CALL
    rows = {(r["feature"], r["model"]): r for r in body["rows"]}
    unknown = rows["labs", UNKNOWN]
    assert covered(unknown) == (2, 2, 0, 0.0)
    for key in ("cost_usd", "cache_savings_usd", "cost_without_cache_usd", "savings_rate"):
        assert unknown[key] is None, key
    assert rows["support", "gpt-4o-mini"]["cost_usd"] == "0.00042"
    assert rows["moderation", FREE]["cost_usd"] == "0"
    nothing = world.client.get(
        "/api/v1/cache-savings", params={**WINDOW, "environment": "none"}, headers=ADMIN
    ).json()
    assert nothing["calls"] == 0 and nothing["cost_usd"] == "0"  # no call: nothing unknown


def test_openapi_documents_null_costs_and_the_priced_share(world: Pipeline) -> None:
    schemas = world.app.openapi()["components"]["schemas"]
    for name in ("Usage", "UnitEconomicsRecord", "CacheSavingsRow", "CacheSavingsResponse"):
        properties = schemas[name]["properties"]
        cost = properties["cost_usd"]
        assert {"type": "null"} in cost["anyOf"], name
        assert "none of them is priced" in cost["description"], name
        assert "by calls" in properties["priced_share"]["description"], name
        assert {"unpriced_calls", "priced_calls", "priced_share"} <= set(
            schemas[name]["required"]
        ), name
    per_request = schemas["UnitEconomicsRecord"]["properties"]["cost_per_1k_requests_usd"]
    assert "priced_calls" in per_request["description"]


def test_the_cli_price_report_marks_unpriced_models(world: Pipeline) -> None:
    console = Console(record=True, width=250)
    _print_report(console, world.get("/prices"))
    in_use = console.export_text().split("Overrides")[0]  # the first table: models in use
    models = {
        line.split("│")[2].strip(): line.split("│")[5].strip()
        for line in in_use.splitlines()
        if line.count("│") > 6
    }
    assert models[UNKNOWN] == "unpriced"
    assert models[FREE] == "0" and models["gpt-4o-mini"] == "0.00042"
