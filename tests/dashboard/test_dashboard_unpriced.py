"""Unknown is unknown on the dashboard: against a real server on loopback holding priced
calls and calls of a model no price knows, the pages that show cost totals mark them
("unpriced", "+ 3 unpriced calls", "≥" for ratios over a partly priced cost), never $0."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from sample_data.harness import otlp
from sample_data.harness.server import ServerProcess
from tests.collector.api.test_costs_api import Call, Trace
from tests.dashboard.test_dashboard import metric, run_page

UNKNOWN = "no-such-model"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """support: 3 calls, one unpriced (sessions s1, s4); labs: 2 calls, none priced (s2)."""
    env = {"SPENDSCOPE_VALUE_UNITS": "support=ticket_resolved"}
    with ServerProcess(tmp_path_factory.mktemp("unpriced"), env=env) as server:
        start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
        traces = [
            Trace(1, start, (Call(0), Call(1, UNKNOWN)), "support", "s1", "u1"),
            Trace(2, start, (Call(0, UNKNOWN), Call(1, UNKNOWN)), "labs", "s2", "u2"),
            Trace(3, start, (Call(0),), "support", "s4", "u1"),
        ]
        spans = [span for trace in traces for span in trace.spans()]
        response = httpx.post(
            f"{server.http_url}/v1/traces",
            content=otlp.request(spans).SerializeToString(),
            headers={"content-type": otlp.PROTOBUF},
        )
        response.raise_for_status()
        server.wait_attributed(timeout=60)
        yield server


def table(app: AppTest, column: str) -> list[dict[str, Any]]:
    """The first table on the page with this column."""
    for frame in app.dataframe:
        rows: list[dict[str, Any]] = frame.value.to_dict("records")
        if rows and column in rows[0]:
            return rows
    raise AssertionError(f"no table with a {column!r} column")


def test_overview_marks_totals_with_unpriced_calls(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page("overview", stack.http_url, monkeypatch)
    # 2 priced gpt-4o-mini calls at $0.00021; 3 calls no price knows.
    assert metric(app, "Spend, last 30 days") == "$0.000420 + 3 unpriced calls"
    by_feature = {row["feature"]: row["cost"] for row in table(app, "feature")}
    assert by_feature == {"support": "$0.000420 + 1 unpriced call", "labs": "unpriced"}
    by_model = {row["model"]: row["cost"] for row in table(app, "model")}
    assert by_model[UNKNOWN] == "unpriced"


def test_models_sessions_and_unit_economics_mark_them_too(
    stack: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = run_page("models", stack.http_url, monkeypatch)
    assert metric(models, "Cost") == "$0.000420 + 3 unpriced calls"
    mix = {row["model"]: row["cost"] for row in table(models, "unpriced calls")}
    assert mix[UNKNOWN] == "unpriced"

    sessions = run_page("sessions", stack.http_url, monkeypatch)
    costs = {row["session"]: row["cost"] for row in table(sessions, "session")}
    assert costs == {
        "s1": "$0.000210 + 1 unpriced call",
        "s2": "unpriced",
        "s4": "$0.000210",
    }

    economics = run_page("unit-economics", stack.http_url, monkeypatch)
    shown = {row["Feature"]: row for row in table(economics, "Feature")}
    assert shown["labs"]["Cost"] == "unpriced"
    assert shown["labs"]["Cost / 1k requests"] == "unpriced"
    support = shown["support"]
    assert support["Cost"] == "$0.000420 + 1 unpriced call"
    assert support["Cost / session"] == "≥ $0.000210"  # 2 sessions, a lower bound
    assert support["Cost / 1k requests"] == "$0.2100"  # over the 2 priced requests
    assert any("lower bounds" in c.value for c in economics.caption)
