"""The live budget-check panel (Anomalies and budgets) and the FOCUS download (Overview), run by
Streamlit's AppTest against a real server holding the sample product with the demo's
`[budget_check]` limits, an admin and a tenant token: the figures shown are the API's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from streamlit.runtime.memory_media_file_storage import _calculate_file_id
from streamlit.testing.v1 import AppTest

from dashboard.budget_check import HIDDEN, NOTHING_ENTERED
from dashboard.money import usd
from sample_data.harness.server import ServerProcess
from tests.dashboard.test_dashboard import last_30_days, metric, run_page
from tests.support.sample_stack import populated_server

ADMIN, ACME = "panels-admin", "panels-acme"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"SPENDSCOPE_API_TOKENS": ADMIN, "SPENDSCOPE_TENANT_TOKENS": f"acme:{ACME}"}
    server = populated_server(tmp_path_factory.mktemp("panels"), env)
    yield server
    server.kill()
    server.client.close()


def check(server: ServerProcess, token: str = ADMIN, **params: str) -> dict[str, Any]:
    response = server.get(
        "/api/v1/budget/check", headers={"authorization": f"Bearer {token}"}, **params
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def ask(app: AppTest, **entered: str) -> AppTest:
    """The check panel with a session / feature / tenant entered."""
    for field, value in entered.items():
        app.text_input(key=f"check_{field}").input(value)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def limits(app: AppTest) -> dict[str, dict[str, Any]]:
    frame = next(f for f in app.dataframe if "remaining" in f.value.columns)
    return {row["limit"]: row for row in frame.value.to_dict("records")}


def test_budget_check_panel_shows_the_live_deny_of_an_overrun_feature(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = run_page("anomalies", stack.http_url, monkeypatch, token=ADMIN)
    # Nothing entered: the demo enforces no total budget, so nothing holds every call.
    assert check(stack)["scopes"] == []
    assert metric(page, "Decision") == "allow"
    assert any(NOTHING_ENTERED in i.value for i in page.info)
    app = ask(page, feature="search")
    answer = check(stack, feature="search")
    assert answer["decision"] == "deny"  # the demo's live spike overran search-daily
    assert metric(app, "Decision") == "deny"
    assert any(answer["reason"] in e.value for e in app.error)
    shown = limits(app)
    search = next(s for s in answer["scopes"] if s["budget"] == "search-daily")
    assert shown["search-daily"]["spend"] == usd(search["spend_usd"])
    assert shown["search-daily"]["limit usd"] == usd("10")
    assert shown["search-daily"]["remaining"] == usd(search["remaining_usd"]) == "$0.00"
    assert shown["search-daily"]["reached"]
    assert any("Live: spend from the in-memory ledger" in c.value for c in app.caption)


def test_budget_check_panel_shows_a_sessions_spend_against_its_limit(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    runaway = next(
        a["details"]
        for a in stack.get("/api/v1/anomalies", kind="runaway_session").json()["anomalies"]
    )
    session, tenant = runaway["session_id"], runaway["tenant_id"]
    page = run_page("anomalies", stack.http_url, monkeypatch, token=ADMIN)
    app = ask(page, session=session, tenant=tenant)
    answer = check(stack, session_id=session, tenant=tenant)
    scope = next(s for s in answer["scopes"] if s["scope"] == "session")
    assert scope["limit_usd"] == "2"  # the demo's session_usd
    assert metric(app, "Session spend, live") == usd(scope["spend_usd"])
    assert metric(app, "Decision") == answer["decision"]
    row = limits(app)["session limit"]
    assert row["of"] == f"session {session}"
    assert row["remaining"] == usd(scope["remaining_usd"])
    assert row["calls"] == f"{scope['calls']:,}"


def test_budget_check_panel_hides_cross_tenant_spend_from_a_tenant_token(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = ask(run_page("anomalies", stack.http_url, monkeypatch, token=ACME), feature="search")
    answer = check(stack, token=ACME, feature="search")
    shown = limits(app)
    assert set(shown) == {s["budget"] for s in answer["scopes"]}
    # The feature's budget spans tenants: it decides, its spend is not shown (never $0).
    assert shown["search-daily"]["spend"] == HIDDEN
    assert shown["search-daily"]["remaining"] == HIDDEN
    acme = next(s for s in answer["scopes"] if s["budget"] == "acme-monthly")
    assert shown["acme-monthly"]["spend"] == usd(acme["spend_usd"])
    assert metric(app, "Decision") == answer["decision"] == "deny"
    # Another tenant: the API refuses, the page says why.
    other = ask(app, tenant="globex")
    assert any("checks its own tenant only" in w.value for w in other.warning)
    assert not [f for f in other.dataframe if "remaining" in f.value.columns]


def focus_file(server: ServerProcess, **params: str) -> httpx.Response:
    response = server.get("/api/v1/export/focus", **last_30_days(), **params)
    response.raise_for_status()
    return response


@pytest.mark.parametrize("grain, file_format", [("day", "csv"), ("hour", "parquet")])
def test_overview_prepares_the_focus_file_the_api_sends(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch, grain: str, file_format: str
) -> None:
    app = run_page("overview", stack.http_url, monkeypatch, token=ADMIN)
    assert not app.get("download_button")  # nothing asked until the user prepares it
    app.selectbox(key="focus_grain").set_value(grain)
    app.selectbox(key="focus_format").set_value(file_format)
    app.button(key="focus_prepare").click().run()
    assert not app.exception, [e.value for e in app.exception]
    sent = focus_file(stack, grain=grain, format=file_format)
    headers = sent.headers
    name = headers["content-disposition"].split("filename=")[1].strip('"')
    [button] = app.get("download_button")
    assert button.proto.label == f"Download {name}"
    # The button serves the API's bytes: Streamlit names a media file by its content's hash.
    file_id = _calculate_file_id(sent.content, headers["content-type"], name)
    assert button.proto.url.rsplit("/", 1)[1].split(".")[0] == file_id
    rows = int(headers["x-spendscope-rows"])
    assert rows > 0
    assert any(c.value.startswith(f"{rows:,} rows,") for c in app.caption)
    left_out = int(headers["x-spendscope-left-out-calls"])
    warned = [w.value for w in app.warning if "left out" in w.value]
    assert left_out > 0  # the sample's unpriced calls report no cost: left out, and said
    assert len(warned) == 1 and warned[0].startswith(f"{left_out:,} calls are **left out**")


def test_budget_check_panel_checks_a_session_picked_from_the_costliest(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page("anomalies", stack.http_url, monkeypatch, token=ADMIN)
    costliest = stack.get("/api/v1/sessions", **last_30_days(), limit=10).json()["sessions"]
    # One the ledger still holds: it forgets sessions idle for 7 days (docs/budgets.md).
    recent = dt.datetime.now(dt.UTC) - dt.timedelta(days=6)
    index = next(
        i for i, s in enumerate(costliest) if dt.datetime.fromisoformat(s["last_call_at"]) >= recent
    )
    picked = costliest[index]
    app.selectbox(key="check_pick").set_value(index).run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.text_input(key="check_session").value == picked["session_id"]
    assert app.text_input(key="check_tenant").value == (picked["tenant_id"] or "")
    assert app.text_input(key="check_feature").value == (picked["feature"] or "")
    answer = check(
        stack,
        session_id=picked["session_id"],
        feature=picked["feature"],
        tenant=picked["tenant_id"],
    )
    session = next(s for s in answer["scopes"] if s["scope"] == "session")
    assert session["calls"] > 0  # the ledger holds the warehouse's sessions from its seed
    assert metric(app, "Session spend, live") == usd(session["spend_usd"])
    assert limits(app)["session limit"]["of"] == f"session {picked['session_id']}"
