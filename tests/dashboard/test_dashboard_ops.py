"""The GPU, Anomalies and budgets, and Alerts pages, run by Streamlit's AppTest against a real
server (tests/support/ops_stack.py) holding GPU metrics, detector findings and delivered incidents:
the figures shown are the API's; a tenant token, an empty service and a dead API each say
what to do."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.breakeven import break_even
from dashboard.filters import window
from dashboard.money import share, usd
from sample_data.harness.server import ServerProcess
from tests.dashboard.test_dashboard import metric, run_page
from tests.e2e.test_alerts_e2e import wait_for
from tests.support.ops_stack import ACME, ADMIN, RUNAWAY, OpsStack, ops_server

REFERENCE = "openai/gpt-4o-mini"  # the page's default


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsStack]:
    stack = ops_server(tmp_path_factory.mktemp("ops") / "server")
    yield stack
    log = stack.server.log_tail(20_000)
    stack.stop()
    assert "Traceback" not in log, log


def api(ops: OpsStack, path: str, **params: Any) -> dict[str, Any]:
    response = ops.server.get(path, **params)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def span(label: str) -> dict[str, str]:
    start, end = window(label, dt.datetime.now(dt.UTC))
    return {"start": start.isoformat(), "end": end.isoformat()}


def _between(shown: str, first: str, second: str) -> bool:
    """A displayed amount (`$1,234.57`) within the two API amounts, to the cent."""
    value = Decimal(shown.lstrip("$").replace(",", ""))
    low, high = sorted((Decimal(first), Decimal(second)))
    return low - Decimal("0.01") <= value <= high + Decimal("0.01")


def table(app: AppTest, column: str) -> list[dict[str, Any]]:
    """The rows of the first dataframe that has `column`."""
    for frame in app.dataframe:
        if column in frame.value.columns:
            rows: list[dict[str, Any]] = frame.value.to_dict("records")
            return rows
    raise AssertionError(f"no table with {column!r}")


def test_gpu_page_shows_the_apis_efficiency_and_break_even(
    ops: OpsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page("gpu", ops.server.http_url, monkeypatch, token=ADMIN)
    efficiency = api(
        ops, "/api/v1/gpu/efficiency", grain="day", reference=REFERENCE, **span("Last 30 days")
    )
    totals = efficiency["totals"]
    # Two GPUs for three hours at 25, 50 and 100 % engine activity, $4 per GPU-hour.
    assert totals["gpu_hours"] == "6.000000" and totals["cost_usd"] == "24"
    assert totals["utilization"] == pytest.approx(7 / 12)
    assert metric(app, "Utilization") == share(totals["utilization"])
    assert metric(app, "Idle GPU cost") == usd(totals["idle_cost_usd"]) == "$10.00"
    assert metric(app, "GPU cost") == usd(totals["cost_usd"])
    assert metric(app, "Cost / million tokens") == usd(totals["cost_per_million_tokens_usd"])
    assert metric(app, "Tokens / GPU-second") == f"{totals['tokens_per_gpu_second']:,.1f}"
    even = break_even(totals)
    assert even is not None and not even.cheaper  # 6 h of H100s cost more than the API
    assert metric(app, f"{REFERENCE} / million tokens") == usd(even.reference_per_mtok)
    assert metric(app, "Break-even tokens / GPU-second") == f"{even.tokens_per_gpu_second:,.1f}"
    assert len(app.get("plotly_chart")) == 3  # utilization, busy/idle cost, allocation
    deployments = table(app, "unallocated")
    allocation = api(ops, "/api/v1/gpu/allocation", group_by="feature", **span("Last 30 days"))
    (llama,) = allocation["deployments"]
    assert deployments == [
        {
            "deployment": "llama",
            "GPU cost": usd(llama["cost_usd"]),
            "allocated": usd(llama["allocated_usd"]),
            "of it idle": usd(llama["allocated_idle_usd"]),
            "unallocated": usd(llama["unallocated_usd"]),
            "calls": llama["calls"],
        }
    ]
    shown = {row["feature"]: row["allocated"] for row in table(app, "feature")}
    assert shown == {r["dimensions"]["feature"]: usd(r["cost_usd"]) for r in allocation["rows"]}
    assert set(shown) == {"search", "chat"}
    app.radio(key="allocate_to").set_value("Tenant").run()
    assert not app.exception
    by_tenant = api(ops, "/api/v1/gpu/allocation", group_by="tenant", **span("Last 30 days"))
    shown = {row["tenant"]: row["allocated"] for row in table(app, "tenant")}
    assert shown == {r["dimensions"]["tenant"]: usd(r["cost_usd"]) for r in by_tenant["rows"]}
    assert set(shown) == {"acme", "globex"}
    # Another reference model: the API's figures for it.
    app.selectbox(key="reference").set_value("openai/gpt-4o").run()
    other = api(
        ops, "/api/v1/gpu/efficiency", grain="day", reference="openai/gpt-4o",
        **span("Last 30 days"),
    )  # fmt: skip
    dearer = break_even(other["totals"])
    assert dearer is not None and dearer.reference_per_mtok > even.reference_per_mtok
    assert metric(app, "openai/gpt-4o / million tokens") == usd(dearer.reference_per_mtok)
    assert not app.error and not app.warning


def test_gpu_page_with_a_tenant_token_says_the_fleet_needs_an_unscoped_one(
    ops: OpsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page("gpu", ops.server.http_url, monkeypatch, token=ACME)
    assert not app.error
    assert "covers the whole fleet" in app.warning[0].value and "403" in app.warning[0].value
    assert "unscoped" in app.info[0].value
    mine = ops.server.get(
        "/api/v1/gpu/allocation",
        headers={"authorization": f"Bearer {ACME}"},
        group_by="feature",
        **span("Last 30 days"),
    ).json()
    shown = {row["feature"]: row["allocated"] for row in table(app, "feature")}
    assert shown == {r["dimensions"]["feature"]: usd(r["cost_usd"]) for r in mine["rows"]}
    assert any("own tenant" in c.value for c in app.caption)


def test_anomalies_page_explains_findings_and_shows_budgets(
    ops: OpsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {b["name"]: b for b in api(ops, "/api/v1/budgets")["budgets"]}
    app = run_page("anomalies", ops.server.http_url, monkeypatch, token=ADMIN)
    found = api(ops, "/api/v1/anomalies", **span("Last 30 days"))["anomalies"]
    firing = [a for a in found if a["firing"]]
    assert {a["kind"] for a in firing} >= {"runaway_session", "budget"}
    assert metric(app, "Firing now") == str(len(firing))
    assert metric(app, "Runaway sessions") == "1"
    # The latest first: the detectors run every 2 s, so the order may change between reads.
    findings = table(app, "finding")
    assert sorted(row["series"] for row in findings) == sorted(a["series"] for a in found)
    # The runaway session, explained.
    runaway = next(i for i, row in enumerate(findings) if row["kind"] == "runaway session")
    app.selectbox(key="finding").set_value(runaway).run()
    details = next(a for a in found if a["kind"] == "runaway_session")["details"]
    assert details["session_id"] == RUNAWAY
    assert metric(app, "Session") == RUNAWAY
    assert metric(app, "Spend so far") == usd(str(details["spend_usd"]))
    assert {row["why"] for row in table(app, "why")} == {"peers", "loop"}
    # Budgets: spend, share and forecast as the API says.
    budgets = {b["name"]: b for b in api(ops, "/api/v1/budgets")["budgets"]}
    shown = {row["budget"]: row for row in table(app, "budget")}
    assert set(shown) == set(budgets) == {"acme-month", "everything-daily"}
    for name, budget in budgets.items():
        assert shown[name]["spend"] == usd(budget["spend_usd"])
        # The forecast runs the recent rate to the period's end from the time asked: the
        # page's is the API's at some moment between the two reads. The month budget has no
        # complete day of history here: no forecast (n/a), its spend already past the amount.
        forecast = shown[name]["forecast, period end"]
        if budget["forecast_usd"] is None:
            assert forecast == "n/a" and before[name]["forecast_usd"] is None
        else:
            assert _between(forecast, before[name]["forecast_usd"], budget["forecast_usd"])
        assert shown[name]["firing"] == budget["firing"]
    assert shown["acme-month"]["threshold crossed"] == "100%"
    assert any("acme-month" in w.value for w in app.warning)  # forecast to overrun
    # The spend anomaly found weeks ago, in a wider window: what caused the excess.
    app.selectbox(key="range").set_value("Last 90 days").run()
    assert not app.exception
    wide = api(ops, "/api/v1/anomalies", **span("Last 90 days"))["anomalies"]
    series = "spend:hour:feature=search"
    rows = table(app, "finding")
    app.selectbox(key="finding").set_value(
        next(i for i, row in enumerate(rows) if row["series"] == series)
    ).run()
    explanation = next(a for a in wide if a["series"] == series)["details"]["explanation"]
    assert explanation["main_cause"] == "calls"
    text = " ".join(m.value for m in app.markdown)
    assert f"{usd(str(explanation['excess_usd']))} over the usual" in text
    assert "mostly from **more calls**" in text
    assert len(app.get("plotly_chart")) == 2  # the causes, the budgets
    assert not app.error


def test_alerts_page_shows_incidents_deliveries_and_acknowledges(
    ops: OpsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page("alerts", ops.server.http_url, monkeypatch, token=ADMIN)
    # Wide enough for the incidents of the spend anomaly found weeks ago (resolved since).
    app.selectbox(key="range").set_value("Last 90 days").run()
    since = span("Last 90 days")["start"]
    alerts = api(ops, "/api/v1/alerts", since=since)["alerts"]
    # `since` at the newest signal, written with another offset or without one (read as
    # UTC): the same instant, so the newest incident is in (an offset once was dropped).
    newest = max(dt.datetime.fromisoformat(a["last_signal_at"]) for a in alerts)
    expected_ids = [
        a["id"] for a in alerts if dt.datetime.fromisoformat(a["last_signal_at"]) >= newest
    ]
    plus_five = dt.timezone(dt.timedelta(hours=5))
    for same in (newest.astimezone(plus_five), newest.astimezone(dt.UTC).replace(tzinfo=None)):
        found = api(ops, "/api/v1/alerts", since=same.isoformat())["alerts"]
        assert [a["id"] for a in found] == expected_ids, same
    year_one = ops.server.get("/api/v1/alerts", since="0001-01-01T00:00:00")
    assert year_one.status_code == 422 and "2200" in year_one.text
    open_ = [a for a in alerts if a["status"] == "open"]
    assert metric(app, "Open") == str(len(open_))
    assert metric(app, "Open, critical") == str(
        sum(1 for a in open_ if a["severity"] == "critical")
    )
    incidents = table(app, "incident")
    assert [row["id"] for row in incidents] == [a["id"] for a in alerts]
    assert [row["severity"] for row in incidents] == [a["severity"] for a in alerts]
    deliveries = table(app, "channel")
    expected = [(a["id"], d["channel"], d["attempts"], d["status"]) for a in alerts
                for d in a["deliveries"]]  # fmt: skip
    assert [(r["incident"], r["channel"], r["attempts"], r["status"]) for r in deliveries] == (
        expected
    )
    assert any(r["channel"] == "slack" and r["attempts"] == 2 for r in deliveries)  # the 503
    assert "pagerduty" in {r["channel"] for r in deliveries}
    assert {a["status"] for a in alerts} == {"open", "resolved"}
    # The runaway session's incident: its attempts, then acknowledged from the page.
    runaway = next(a for a in alerts if a["kind"] == "runaway_session")
    assert runaway["severity"] == "critical" and not runaway["acknowledged_at"]
    app.selectbox(key="incident").set_value(runaway["id"]).run()
    attempts = table(app, "HTTP status")
    detail = api(ops, f"/api/v1/alerts/{runaway['id']}")
    logged = [a for d in detail["deliveries"] for a in d["attempt_log"] or []]
    assert [(r["attempt"], r["HTTP status"], r["outcome"]) for r in attempts] == [
        (a["attempt"], a["status_code"], a["outcome"]) for a in logged
    ]
    pages_before = len(ops.pagerduty.requests)
    app.text_input(key="acknowledged_by").input("ana@acme.example")
    app.button(key="acknowledge").click().run()
    assert not app.exception and not app.error
    acked = api(ops, f"/api/v1/alerts/{runaway['id']}")
    assert acked["acknowledged_by"] == "ana@acme.example"
    assert any("Acknowledged by ana@acme.example" in c.value for c in app.caption)
    wait_for(lambda: len(ops.pagerduty.requests) > pages_before, "PagerDuty told", 30)
    assert ops.pagerduty.bodies()[-1]["event_action"] == "acknowledge"


def test_an_empty_service_says_how_to_get_each_page_populated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ServerProcess(tmp_path / "empty") as server:
        app = run_page("gpu", server.http_url, monkeypatch)
        assert "No GPU metrics" in app.info[0].value and "docs/gpu.md" in app.info[0].value
        app = run_page("anomalies", server.http_url, monkeypatch)
        assert "Nothing unusual" in app.success[0].value
        assert "detection.toml" in app.info[0].value  # no budgets
        app = run_page("alerts", server.http_url, monkeypatch)
        assert "No incidents" in app.success[0].value
        app = run_page("savings", server.http_url, monkeypatch)
        assert "No saving found" in app.info[0].value and "docs/savings.md" in app.info[0].value
        app = run_page("projections", server.http_url, monkeypatch)
        assert "No model calls in the last 7 complete days" in app.info[0].value
        assert "No forecast yet" in app.caption[1].value
        for url in ("gpu", "anomalies", "alerts", "savings"):
            app = run_page(url, server.http_url, monkeypatch)
            assert not app.error and not app.warning, url
