"""Every dashboard page, run by Streamlit's AppTest against a real server on loopback that
holds days of the sample product: the figures shown are the API's."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.filters import window
from dashboard.money import lower_bound, usd
from dashboard.money import total as marked
from sample_data.harness.server import ServerProcess, free_port
from sample_data.product import NEGOTIATED_PRICE
from sample_data.schedule import LIVE_RUNAWAY_PREFIX, RUNAWAY_SESSION
from tests.support.sample_stack import populated_server


def page_script(url: str) -> None:
    from dashboard.app import main

    main(page_url=url)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = populated_server(tmp_path_factory.mktemp("dashboard"))
    yield server
    server.kill()
    server.client.close()


def run_page(
    url: str,
    api_url: str,
    monkeypatch: pytest.MonkeyPatch,
    token: str | None = None,
    **query: str,
) -> AppTest:
    """The page at `url` (with `query` as its URL's query parameters, as a link gives)."""
    monkeypatch.setenv("SPENDSCOPE_API_URL", api_url)
    if token:
        monkeypatch.setenv("SPENDSCOPE_API_TOKEN", token)
    else:
        monkeypatch.delenv("SPENDSCOPE_API_TOKEN", raising=False)
    app = AppTest.from_function(page_script, args=(url,), default_timeout=60)
    app.query_params.update(query)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def metric(app: AppTest, label: str) -> str:
    found = [m.value for m in app.metric if m.label == label]
    assert found, f"no metric {label!r} in {[m.label for m in app.metric]}"
    return str(found[0])


def last_30_days() -> dict[str, str]:
    start, end = window("Last 30 days", dt.datetime.now(dt.UTC))
    return {"start": start.isoformat(), "end": end.isoformat()}


def costs(server: ServerProcess, **params: Any) -> dict[str, Any]:
    response = server.get("/api/v1/costs", **params)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def test_overview_shows_the_apis_spend_and_a_forecast(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page("overview", stack.http_url, monkeypatch)
    total = costs(stack, **last_30_days())["totals"]
    assert total["calls"] > 1000
    assert metric(app, "Spend, last 30 days") == marked(total)  # "+ 8 unpriced calls"
    now = dt.datetime.now(dt.UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = costs(stack, start=midnight.isoformat(), end=last_30_days()["end"])["totals"]
    assert metric(app, "Spend today") == marked(today)
    assert metric(app, "Month-end forecast").startswith("$")
    features = {row["feature"] for row in app.dataframe[0].value.to_dict("records")}
    assert features == {
        "support-agent",
        "search",
        "writing-assistant",
        "summarizer",
        "classification",
    }
    assert not app.error


def _what(title: str) -> str:
    """A finding's title without its amounts: `Spend up: total $26.09 ...` -> `Spend up: total`."""
    return title.split(" $", 1)[0]


def test_overview_shows_the_open_anomalies_and_the_budgets(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page("overview", stack.http_url, monkeypatch)
    found = stack.get("/api/v1/anomalies").json()["anomalies"]
    tables = [t.value.to_dict("records") for t in app.dataframe]
    shown = next(rows for rows in tables if rows and "finding" in rows[0])
    titles = {row["finding"] for row in shown}
    # The spike and the runaway session, firing; budgets are not anomalies
    # (search alone is too sparse at this shape's traffic to be scored per hour)
    assert any(t.startswith("Spend up: total ") for t in titles)
    assert any(t.startswith(f"Runaway session {LIVE_RUNAWAY_PREFIX}") for t in titles)
    firing = {a["title"] for a in found if a["firing"] and a["kind"] != "budget"}
    # The amounts of an hour under way move each time the detector runs (the page and the
    # API were read moments apart): compare what fired, not the figures.
    assert {_what(t) for t in titles} <= {_what(a["title"]) for a in found}
    assert len(titles) >= len(firing) - 2
    assert all(row["kind"] != "budget" for row in shown)
    budgets = {b["name"]: b for b in stack.get("/api/v1/budgets").json()["budgets"]}
    rows = next(rows for rows in tables if rows and "budget" in rows[0])
    assert (
        {row["budget"] for row in rows}
        == set(budgets)
        == {
            "monthly-total",
            "acme-monthly",
            "search-daily",
        }
    )
    for row in rows:
        assert row["spend"] == usd(budgets[row["budget"]]["spend_usd"])
        assert row["used"] == f"{budgets[row['budget']]['percent']:.1f}%"
    assert budgets["search-daily"]["firing"]  # the spike overran it
    assert any("search-daily" in w.value for w in app.warning)
    # One month-end forecast: the headline is the monthly total budget's forecast, and
    # each monthly budget's is the same function's for its own spend (the tenant's here).
    shown = {row["budget"]: row for row in rows}
    # The headline also says how many calls of the month it could not price (the sample
    # data has some); the number is the budget row's.
    headline = metric(app, "Month-end forecast")
    assert headline.startswith("$")
    assert shown["monthly-total"]["forecast, period end"] == headline.split(" + ")[0]
    # The page's moment moves between runs (the rest of today is forecast): one run.
    acme = run_page("overview", stack.http_url, monkeypatch)
    acme.selectbox(key="tenant").select("acme").run()
    tables = [t.value.to_dict("records") for t in acme.dataframe]
    rows = next(rows for rows in tables if rows and "budget" in rows[0])
    acme_budget = next(row for row in rows if row["budget"] == "acme-monthly")
    forecast = metric(acme, "Month-end forecast").split(" + ")[0]
    assert forecast == acme_budget["forecast, period end"]


def test_overview_filters_by_tenant(stack: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_page("overview", stack.http_url, monkeypatch)
    tenants = app.selectbox(key="tenant")
    assert "acme" in tenants.options and "All" in tenants.options
    tenants.select("acme").run()
    assert not app.exception
    acme = costs(stack, tenant="acme", **last_30_days())["totals"]
    everyone = costs(stack, **last_30_days())["totals"]
    assert acme["cost_usd"] != everyone["cost_usd"]
    assert metric(app, "Spend, last 30 days") == usd(acme["cost_usd"])
    assert "tenant acme" in app.caption[0].value


def test_unit_economics_table_is_the_apis(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page("unit-economics", stack.http_url, monkeypatch)
    api = stack.get("/api/v1/unit-economics", **last_30_days()).json()["features"]
    shown = {row["Feature"]: row for row in app.dataframe[0].value.to_dict("records")}
    assert set(shown) == {row["feature"] for row in api if row["calls"]}
    for row in api:
        if row["feature"] in shown:
            assert shown[row["feature"]]["Cost"] == marked(row)
            per_unit = lower_bound(row["cost_per_value_unit_usd"], row)
            assert shown[row["feature"]]["Cost / value unit"] == per_unit
            assert shown[row["feature"]]["Sessions"] == row["sessions"]
    assert shown["support-agent"]["Value unit"] == "ticket_resolved"
    # Latency beside cost: the support agent streams its answers (a time to first token),
    # search does not; every feature with calls has a latency (live traffic moves the
    # percentiles between the page's call and this one, so their shape is checked).
    for row in shown.values():
        assert re.fullmatch(r"[\d,]+ ms", row["p50 latency"]), row
    assert re.fullmatch(r"[\d,]+ ms", shown["support-agent"]["p50 time to first token"])
    assert shown["search"]["p50 time to first token"] == "n/a"
    assert not app.error


def test_sessions_page_shows_the_detectors_runaways_and_draws_their_calls(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    def runaway() -> dict[str, Any]:
        found = stack.get("/api/v1/anomalies", kind="runaway_session").json()["anomalies"]
        details: dict[str, Any] = found[0]["details"]
        return details

    # The detector re-runs while the page renders (its figures move with the clock): the
    # page shows what the API said just before or just after.
    before = runaway()
    app = run_page("sessions", stack.http_url, monkeypatch)
    live = runaway()
    assert live["session_id"].startswith(LIVE_RUNAWAY_PREFIX)
    runaways = app.dataframe[0].value.to_dict("records")
    assert [row["session"] for row in runaways] == [live["session_id"]]
    assert runaways[0]["user"] == live["user_id"] and runaways[0]["feature"] == "support-agent"
    assert runaways[0]["spend"] in {usd(before["spend_usd"]), usd(live["spend_usd"])}
    assert runaways[0]["spend / minute"] in {
        usd(before["spend_per_minute_usd"]),
        usd(live["spend_per_minute_usd"]),
    }
    assert "peers" in runaways[0]["why"]
    # The costliest sessions hold both runaways (the detector finds only live ones).
    costliest = [row["session"] for row in app.dataframe[1].value.to_dict("records")]
    assert {RUNAWAY_SESSION, live["session_id"]} <= set(costliest[:2])
    # The live runaway is drawn first, call by call.
    assert app.subheader[2].value == f"Session {live['session_id']}"
    detail = stack.get(f"/api/v1/sessions/{live['session_id']}").json()
    assert metric(app, "Model calls") == f"{detail['session']['calls']:,}"
    assert metric(app, "Cost") == marked(detail["session"])
    assert len(app.dataframe[2].value) == detail["session"]["calls"]
    # Another session, chosen in the selectbox.
    app.selectbox(key="session").select(RUNAWAY_SESSION).run()
    assert not app.exception
    assert app.subheader[2].value == f"Session {RUNAWAY_SESSION}"


def test_models_page_shows_mix_cache_savings_and_overrides(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page("models", stack.http_url, monkeypatch)
    savings = stack.get("/api/v1/cache-savings", **last_30_days()).json()
    assert metric(app, "Saved by cache reads") == marked(savings, "cache_savings_usd")
    models = {row["model"] for row in app.dataframe[0].value.to_dict("records")}
    assert {"gpt-4o-2024-08-06", "meta-llama/Llama-3.1-8B-Instruct"} <= models
    # Latency beside cost, per model: every model of the API's answer, the support agent's
    # streamed gpt-4o with a time to first token, the batch's self-hosted model without.
    latency = next(
        t.value.to_dict("records") for t in app.dataframe if "p95 latency" in t.value.columns
    )
    by_model = {row["model"]: row for row in latency}
    answer = stack.get("/api/v1/latency", **last_30_days()).json()["rows"]
    assert {row["dimensions"]["model"] for row in answer} <= set(by_model) | {None}
    assert by_model["gpt-4o-2024-08-06"]["p50 time to first token"].endswith(" ms")
    assert by_model["meta-llama/Llama-3.1-8B-Instruct"]["p50 time to first token"] == "n/a"
    assert by_model["meta-llama/Llama-3.1-8B-Instruct"]["p95 latency"].endswith(" ms")
    assert len(app.get("plotly_chart")) >= 2  # the mix and the cost-latency trade-off
    overrides = [t.value.to_dict("records") for t in app.dataframe if "note" in t.value.columns]
    assert overrides and overrides[0][0]["model"] == NEGOTIATED_PRICE["model"]
    unpriced = stack.get("/api/v1/prices").json()["unpriced"]
    if unpriced:
        assert any("not priced" in w.value for w in app.warning)
    else:
        assert any("Every model call has a price" in s.value for s in app.success)


def test_savings_page_ranks_the_apis_opportunities_and_replays_a_rule(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page("savings", stack.http_url, monkeypatch)
    body = stack.get("/api/v1/savings", **last_30_days()).json()
    found = body["opportunities"]
    kinds = {(o["kind"], o["feature"]) for o in found}
    assert {("model_swap", "search"), ("prompt_caching", "summarizer")} <= kinds
    assert ("batch", "classification") in kinds
    assert metric(app, "Opportunities") == str(len(found))
    assert metric(app, "Up to, per month") == usd(body["monthly_savings_usd"])
    shown = app.dataframe[0].value.to_dict("records")
    assert [(r["feature"], r["model"], r["$ / month"]) for r in shown] == [
        (o["feature"], o["model"], usd(o["monthly_savings"]["usd"])) for o in found
    ]
    text = " ".join(m.value for m in app.markdown)
    assert all(line in text for o in found for line in o["assumptions"])
    assert "Quality evidence" in text
    # A rule of the user's own, through the form.
    inputs = {t.label: t for t in app.text_input}
    inputs["Feature"].input("support-agent")
    inputs["Route to model"].input("gpt-4o-mini")
    next(b for b in app.button if "Replay" in b.label).click()
    app.run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    result = stack.get(
        "/api/v1/savings/what-if",
        feature="support-agent",
        to_model="gpt-4o-mini",
        no_tools="false",
        **last_30_days(),
    ).json()
    text = " ".join(m.value for m in app.markdown)
    assert f"{result['moved_calls']:,} of {result['calls']:,} calls move" in text
    assert usd(result["monthly_savings"]["usd"]) in text


def test_every_page_says_what_to_do_when_the_api_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = run_page("overview", f"http://127.0.0.1:{free_port()}", monkeypatch)
    assert "did not answer" in app.error[0].value
    assert "spendscope serve" in app.info[0].value


def test_auth_needs_the_token_and_an_empty_service_says_how_to_send_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"SPENDSCOPE_API_TOKENS": "dash-token"}
    with ServerProcess(tmp_path / "auth", env=env) as server:
        app = run_page("overview", server.http_url, monkeypatch)
        assert "401" in app.error[0].value
        assert "SPENDSCOPE_API_TOKEN" in app.info[0].value
        for url in ("overview", "unit-economics", "sessions", "models"):
            app = run_page(url, server.http_url, monkeypatch, token="dash-token")
            assert not app.error, (url, [e.value for e in app.error])
            if url != "models":
                assert any("OTEL_EXPORTER_OTLP_ENDPOINT" in i.value for i in app.info), url
            if url == "overview":  # the detectors' parts say what they watch, or how to start
                assert any("No open anomalies" in m.value for m in app.success)
                assert any("No budgets yet" in i.value for i in app.info)
            if url == "sessions":
                assert any("No runaway sessions found" in m.value for m in app.success)


def test_unit_economics_of_one_tenant(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page("unit-economics", stack.http_url, monkeypatch)
    app.selectbox(key="tenant").select("acme").run()
    assert not app.exception and not app.warning
    api = stack.get("/api/v1/unit-economics", tenant="acme", **last_30_days()).json()
    everyone = stack.get("/api/v1/unit-economics", **last_30_days()).json()
    shown = {row["Feature"]: row for row in app.dataframe[0].value.to_dict("records")}
    support = next(r for r in api["features"] if r["feature"] == "support-agent")
    support_all = next(r for r in everyone["features"] if r["feature"] == "support-agent")
    assert support["cost_usd"] != support_all["cost_usd"]
    assert shown["support-agent"]["Cost"] == usd(support["cost_usd"])
    assert shown["support-agent"]["Sessions"] == support["sessions"]
    app.selectbox(key="environment").select("staging").run()
    assert any("environment filter" in w.value for w in app.warning)


def test_find_looks_up_a_session_a_trace_and_a_user_by_id(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = stack.get("/api/v1/sessions", **last_30_days()).json()["sessions"]
    top = next(s for s in reversed(sessions) if s["user_id"])
    app = run_page("find", stack.http_url, monkeypatch)
    app.text_input(key="find").input(top["session_id"]).run()
    assert not app.exception
    # The whole id first (in each tenant that has it), then ids that start with it.
    link = f"/sessions?session={top['session_id']}&tenant={top['tenant_id']}"
    [session] = [row for row in app.dataframe[0].value.to_dict("records") if row["session"] == link]
    assert session["calls"] == top["calls"]
    # A trace of it, by its hex id: links to its session.
    spans = stack.get("/api/v1/spans", session_id=top["session_id"]).json()["spans"]
    app.text_input(key="find").input(spans[0]["trace_id"]).run()
    assert app.subheader[0].value == "Traces"
    assert f"session={top['session_id']}" in app.dataframe[0].value.to_dict("records")[0]["session"]
    # Its user, with the user's page linked.
    app.text_input(key="find").input(top["user_id"]).run()
    users = {row["tenant"]: row for row in app.dataframe[-1].value.to_dict("records")}
    assert (
        users[top["tenant_id"]]["user"] == f"/user?user={top['user_id']}&tenant={top['tenant_id']}"
    )
    app.text_input(key="find").input("no-such-id-anywhere").run()
    assert any("Nothing has the id" in i.value for i in app.info)


def test_user_page_shows_the_users_cost_calls_and_sessions(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = stack.get("/api/v1/sessions", **last_30_days()).json()["sessions"][0]
    user, tenant = top["user_id"], top["tenant_id"]
    app = run_page("user", stack.http_url, monkeypatch, user=user, tenant=tenant)
    mine = costs(stack, user=user, tenant=tenant, grain="day", **last_30_days())
    assert metric(app, "Cost") == usd(mine["totals"]["cost_usd"])
    assert metric(app, "Model calls") == f"{mine['totals']['calls']:,}"
    sessions = app.dataframe[0].value.to_dict("records")
    assert any(row["session"].endswith(f"session={top['session_id']}&tenant={tenant}")
               for row in sessions)  # fmt: skip
    assert len(app.get("plotly_chart")) == 2  # cost and calls per day
    # A session link opens that session on the sessions page, whatever the top 50.
    linked = run_page("sessions", stack.http_url, monkeypatch, session=top["session_id"],
                      tenant=tenant)  # fmt: skip
    assert linked.selectbox(key="session").value == top["session_id"]


def test_an_alerts_link_opens_its_incident(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    alerts = stack.get("/api/v1/alerts").json()["alerts"]
    oldest = alerts[-1]["id"]
    app = run_page("alerts", stack.http_url, monkeypatch, incident=str(oldest))
    assert app.selectbox(key="incident").value == oldest
    missing = run_page("alerts", stack.http_url, monkeypatch, incident="999999")
    assert any("#999999 was not found" in w.value for w in missing.warning)


def test_projections_page_shows_the_apis_levels_drivers_and_break_even(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page("projections", stack.http_url, monkeypatch)
    found = stack.get("/api/v1/projections", multiplier="10").json()
    for level in found["levels"]:
        assert metric(app, f"{level['multiplier']:g}x, a month") == usd(level["usd_per_month"])
    assert metric(app, "Month-end forecast").startswith("$")
    assert any("80% interval" in c.value for c in app.caption)
    drivers = {
        row["feature"]: row
        for frame in app.dataframe
        if "calls each" in frame.value.columns
        for row in frame.value.to_dict("records")
    }
    assert (
        set(drivers)
        == {f["feature"] for f in found["features"]}
        >= {
            "support-agent",
            "search",
            "classification",
        }
    )
    for feature in found["features"]:
        row = drivers[feature["feature"]]
        tenfold = next(lv for lv in feature["levels"] if lv["multiplier"] == 10)
        assert row["10x / day"] == usd(tenfold["usd_per_day"])
        assert row["per day"].endswith(f"{feature['unit']}s")
    # The demo's vLLM deployment against gpt-4o-mini: the break-even the API computed.
    (deployment,) = found["self_hosted"]
    shown = next(
        frame.value.to_dict("records")[0]
        for frame in app.dataframe
        if "break-even at" in frame.value.columns
    )
    even = deployment["break_even_multiplier"]
    assert shown["break-even at"] == ("never" if even is None else f"{even:,.2f}x")
    # A mix change: half of gpt-4o's calls (as the spans name it) to gpt-4o-mini costs less.
    choice = app.selectbox(key="swap_from")
    gpt_4o = next(option for option in choice.options if option.startswith("gpt-4o-20"))
    choice.select(gpt_4o).run()
    assert not app.exception and not app.error
    swapped = stack.get(
        "/api/v1/projections", multiplier="10", swap=f"{gpt_4o}:gpt-4o-mini:0.5"
    ).json()
    assert [lv["multiplier"] for lv in swapped["levels"]] == [1, 10, 100]
    assert metric(app, "10x, a month") == usd(swapped["levels"][1]["usd_per_month"])
    assert Decimal(swapped["levels"][1]["usd_per_month"]) < Decimal(
        found["levels"][1]["usd_per_month"]
    )
    # A model the price book does not know: the page says so and keeps today's mix.
    app.text_input(key="swap_to").input("no-such-model-xyz").run()
    assert "cannot be priced" in app.error[0].value and "no price" in app.error[0].value
