"""The month-end forecast and the projections end to end: the sample product's traffic sent
over OTLP to a real server (the demo's prices, budgets and vLLM GPU), then
`/api/v1/forecast`, `/api/v1/budgets`, `/api/v1/projections`, `/costs` and `/gpu/...` held
against each other, with an admin and a tenant token, and `spendscope forecast` / `project`
run as a user runs them."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from sample_data.demo import DETECTION_FILE, configure_prices
from sample_data.harness.server import ServerProcess, free_port
from sample_data.sender import SampleSender
from tests.support.sample_stack import SHAPE

DAYS = 10
ADMIN = {"authorization": "Bearer admin"}
ACME = {"authorization": "Bearer acme-token"}
CENT = Decimal("0.01")
STARTUP_SECONDS = 180  # migrating a new database takes a minute on a busy shared machine
# The fixture (start, ten days of traffic, the jobs) and each CLI start are slow under load.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("planning")
    (data_dir / "detection.toml").write_text(DETECTION_FILE)
    env = {"SPENDSCOPE_API_TOKENS": "admin", "SPENDSCOPE_TENANT_TOKENS": "acme:acme-token"}
    server = ServerProcess(data_dir, env=env)
    server.start(timeout=STARTUP_SECONDS)
    try:
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=DAYS)
        with httpx.Client(base_url=server.http_url, headers=ADMIN) as http:
            configure_prices(http, start)
        sender = SampleSender(server.http_url, token="admin", seed=5)
        sender.backfill(DAYS, shape=SHAPE)
        sender.close()
        server.wait_attributed(timeout=120)
        yield server
    finally:
        server.kill()
        server.client.close()


def get(server: ServerProcess, path: str, headers: dict[str, str] = ADMIN, **params: Any) -> Any:
    response = server.get(path, headers=headers, **params)
    assert response.status_code == 200, response.text
    return response.json()


def near(first: str, second: str, within: Decimal = CENT) -> bool:
    """Two amounts asked for moments apart (the rest of today is forecast)."""
    return abs(Decimal(first) - Decimal(second)) <= within


def test_one_forecast_everywhere(served: ServerProcess) -> None:
    budgets = {b["name"]: b for b in get(served, "/api/v1/budgets")["budgets"]}
    everything = get(served, "/api/v1/forecast")
    assert everything["history_days"] >= DAYS - 1
    assert near(everything["forecast_usd"], budgets["monthly-total"]["forecast_usd"])
    acme = get(served, "/api/v1/forecast", tenant="acme")
    assert near(acme["forecast_usd"], budgets["acme-monthly"]["forecast_usd"])
    # A tenant token gets its own tenant's forecast, whatever it filters by.
    assert near(get(served, "/api/v1/forecast", ACME)["forecast_usd"], acme["forecast_usd"])
    theirs = get(served, "/api/v1/forecast", ACME, tenant="globex")
    assert theirs["month_to_date_usd"] == "0" and theirs["forecast_usd"] is None
    for body in (everything, acme):
        low, total, high = (Decimal(body[k]) for k in ("low_usd", "forecast_usd", "high_usd"))
        assert Decimal(body["month_to_date_usd"]) <= low < total < high
    # The month so far is the priced spend /costs gives for the month to the hour under way.
    now = dt.datetime.now(dt.UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    costs = get(served, "/api/v1/costs", start=month.isoformat(), end=end.isoformat())
    assert near(everything["month_to_date_usd"], costs["totals"]["cost_usd"] or "0")


def test_projections_multiply_the_drivers_and_reuse_the_gpu_break_even(
    served: ServerProcess,
) -> None:
    body = get(served, "/api/v1/projections", multiplier="10")
    assert [level["multiplier"] for level in body["levels"]] == [1, 10, 100]
    features = {f["feature"]: f for f in body["features"]}
    assert {"support-agent", "search", "writing-assistant", "summarizer", "classification"} <= (
        set(features)
    )
    # Today's spend per day is the window's /costs total plus its GPU allocation, / 7 days.
    window = {"start": body["start"], "end": body["end"]}
    api = Decimal(get(served, "/api/v1/costs", **window)["totals"]["cost_usd"])
    gpu = sum(
        Decimal(row["cost_usd"]) for row in get(served, "/api/v1/gpu/allocation", **window)["rows"]
    )
    assert near(body["levels"][0]["usd_per_day"], str((api + gpu) / body["days"]))
    # API spend scales with the traffic.
    for feature in features.values():
        if Decimal(feature["gpu_usd_per_day"]) == 0:
            one, ten = (Decimal(level["usd_per_day"]) for level in feature["levels"][:2])
            assert abs(ten - 10 * one) <= Decimal("0.00001")
    # The vLLM deployment: the GPU page's figures over the same window give its break-even.
    (deployment,) = body["self_hosted"]
    efficiency = get(served, "/api/v1/gpu/efficiency", reference="openai/gpt-4o-mini", **window)[
        "totals"
    ]
    ratio = Decimal(efficiency["cost_usd"]) / Decimal(efficiency["reference_cost_usd"])
    even = deployment["break_even_multiplier"]
    if ratio * Decimal(str(efficiency["utilization"])) <= 1:
        assert even == pytest.approx(float(ratio), rel=1e-4)
    else:
        assert even is None
    assert deployment["utilization"] == pytest.approx(efficiency["utilization"], abs=1e-6)
    # A tenant token: its own features, not the shared fleet.
    mine = get(served, "/api/v1/projections", ACME)
    assert mine["self_hosted"] is None
    assert Decimal(mine["levels"][0]["usd_per_day"]) < Decimal(body["levels"][0]["usd_per_day"])


def test_a_mix_change_and_the_errors(served: ServerProcess) -> None:
    body = get(served, "/api/v1/projections")
    models = {m["model"] for f in body["features"] for m in f["mix"]}
    gpt_4o = next(model for model in models if model.startswith("gpt-4o-20"))
    swapped = get(served, "/api/v1/projections", swap=f"{gpt_4o}:gpt-4o-mini:1")
    assert Decimal(swapped["levels"][0]["usd_per_day"]) < Decimal(body["levels"][0]["usd_per_day"])
    assert all(m["model"] != gpt_4o for f in swapped["features"] for m in f["mix"])
    assert swapped["swaps"] == [f"{gpt_4o}:gpt-4o-mini:1"]
    for params, status, says in (
        ({"swap": "gpt-4o:nope"}, 422, "MODEL_A:MODEL_B:SHARE"),
        ({"swap": f"{gpt_4o}:no-such-model-xyz:0.5"}, 422, "no price for model"),
        ({"swap": "claude-9:gpt-4o-mini:0.5"}, 422, "no calls of claude-9"),
        ({"multiplier": "0"}, 422, "greater than 0"),
        ({"reference": "openai/no-such-model-xyz"}, 400, "no price for reference model"),
    ):
        response = served.get("/api/v1/projections", headers=ADMIN, **params)
        assert response.status_code == status, (params, response.text)
        assert says in response.text, response.text


def spendscope(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}
    return subprocess.run(
        [sys.executable, "-m", "collector", *args],
        capture_output=True,
        text=True,
        env=env | {"COLUMNS": "200"},
        timeout=120,
        check=False,
    )


def test_the_cli_prints_the_apis_figures(served: ServerProcess) -> None:
    where = ("--url", served.http_url, "--token", "admin")
    shown = spendscope("forecast", "--tenant", "acme", *where)
    assert shown.returncode == 0, shown.stderr
    assert "tenant acme" in shown.stdout and "80% interval" in shown.stdout
    projected = spendscope("project", "--multiplier", "100", "--json", *where)
    assert projected.returncode == 0, projected.stderr
    levels = json.loads(projected.stdout)["levels"]
    api = get(served, "/api/v1/projections", multiplier="100")["levels"]
    assert [lv["multiplier"] for lv in levels] == [1, 10, 100]
    assert all(near(a["usd_per_day"], b["usd_per_day"]) for a, b in zip(levels, api, strict=True))
    table = spendscope("project", "--multiplier", "20", *where)
    assert table.returncode == 0, table.stderr
    assert "20x:" in table.stdout and "Self-hosted vllm-llama" in table.stdout


def test_the_cli_says_why_it_cannot_answer(served: ServerProcess) -> None:
    refused = spendscope("project", "--swap", "gpt-4o", "--url", served.http_url)  # no token
    assert refused.returncode == 1 and "401" in refused.stderr
    where = ("--url", served.http_url, "--token", "admin")
    refused = spendscope("project", "--swap", "gpt-4o", *where)
    assert refused.returncode == 1 and "MODEL_A:MODEL_B:SHARE" in refused.stderr
    nobody = spendscope("forecast", "--url", f"http://127.0.0.1:{free_port()}")
    assert nobody.returncode == 1 and "cannot reach the service" in nobody.stderr
