"""End to end through a real `spendscope serve`: traffic over OTLP, the OpenAI bill pulled by
`spendscope bills pull` from a loopback stand-in of its admin API (throttled once), the
Anthropic and Bedrock (FOCUS) bills imported by `spendscope bills import`, and the
reconciliation out of the API, the CLI and the alert lifecycle.

A bad file is refused naming its row, and changes nothing; the same file imported again
changes nothing; a tenant-scoped token cannot read the organisation's bills.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from collector.cli.main import cli
from dashboard.filters import DEFAULT_RANGE, window
from dashboard.money import usd
from sample_data.harness.bill_scenario import Scenario, build
from sample_data.harness.server import ServerProcess
from tests.dashboard.test_dashboard import metric, run_page
from tests.support.admin_api_stub import AdminApiStub, openai_error
from tests.support.scenario_server import scenario_server
from warehouse.reconciliation.formats import parse_bill

ADMIN, ACME = "admin-token", "acme-token"
ADMIN_KEY = "sk-admin-e2e"
DETECTION_FILE = """
[reconciliation]
min_gap_share = 0.05
min_gap_usd = "0.01"
"""


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    first = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=4)
    return build(first, days=3, calls_per_day=40, seed=11)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, scenario: Scenario) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("recon")
    (data_dir / "detection.toml").write_text(DETECTION_FILE)
    env = {
        "SPENDSCOPE_API_TOKENS": ADMIN,
        "SPENDSCOPE_TENANT_TOKENS": f"acme:{ACME}",
        "SPENDSCOPE_DETECTION_INTERVAL_SECONDS": "1",
    }
    with scenario_server(data_dir, scenario, env) as server:
        yield server


def run(server: ServerProcess, *args: str, env: dict[str, str] | None = None) -> Any:
    common = ["--url", server.http_url, "--token", ADMIN]
    return CliRunner().invoke(cli, ["bills", *args, *common], env=env)


def test_bills_pulled_and_imported_then_reconciled(
    served: ServerProcess, scenario: Scenario, tmp_path: Path
) -> None:
    openai_bill = parse_bill(scenario.files["openai.json"], "openai.json")
    assert openai_bill.lines
    pages = json.loads(scenario.files["openai.json"])
    with AdminApiStub("openai", ADMIN_KEY, {k: pages[k] for k in ("usage", "costs")}) as stub:
        stub.fail(openai_error(429, "Rate limit reached", "rate_limit_exceeded"))
        first = scenario.first_day
        pulled = run(
            served, "pull", "openai", "--start", str(first),
            "--end", str(first + dt.timedelta(days=scenario.days)), "--base-url", stub.url,
            "--save", str(tmp_path / "openai.json"),
            env={"SPENDSCOPE_BILLS_ADMIN_KEY": ADMIN_KEY},
        )  # fmt: skip
    assert pulled.exit_code == 0, pulled.output
    assert "imported" in pulled.output and len(stub.requests) > 2
    files = []
    for name in ("anthropic.json", "bedrock-focus.csv"):
        (tmp_path / name).write_bytes(scenario.files[name])
        files.append(str(tmp_path / name))
    imported = run(served, "import", *files)
    assert imported.exit_code == 0, imported.output
    assert "from a focus bill" in imported.output and "from a anthropic bill" in imported.output

    before = served.get("/api/v1/reconciliation").json()
    again = run(served, "import", *files)
    assert again.exit_code == 0 and again.output.count("nothing changed") == 2
    bad = tmp_path / "bad.csv"
    header, first_row, *rest = scenario.files["bedrock-focus.csv"].decode().splitlines()
    assert header.startswith("BilledCost,")
    bad.write_text("\n".join([header, "abc" + first_row[first_row.index(",") :], *rest]))
    refused = run(served, "import", str(bad))
    assert refused.exit_code == 1
    assert "bad.csv: row 1 (line 2): BilledCost: must be a decimal number, got 'abc'" in (
        refused.output
    )
    after = served.get("/api/v1/reconciliation").json()
    assert after["rows"] == before["rows"]  # neither the bad file nor the repeat changed anything

    models = {m["model"]: m for m in after["models"]}
    assert models["gpt-4o-mini"]["cause"] == "price_differs" and models["gpt-4o-mini"]["firing"]
    assert models["gpt-4o"]["cause"] == "traffic_not_instrumented"
    assert models["claude-3-5-haiku-latest"]["cause"] == "price_differs"
    assert {r["provider"] for r in after["rows"]} == {"openai", "anthropic", "aws.bedrock"}
    row = next(r for r in after["rows"] if r["model"] == "gpt-4o-mini")
    assert row["billed_usd"] is not None and row["bill_breakdown"]
    assert {p["project"] for p in row["bill_breakdown"]} == {"proj_support", "proj_search"}

    printed = run(served, "reconcile")
    assert printed.exit_code == 0, printed.output
    assert "price_differs" in printed.output and "negotiated discount" in printed.output

    # The detector (every second here) opens incidents through the alert lifecycle.
    deadline = time.monotonic() + 30
    series: set[str] = set()
    while time.monotonic() < deadline:
        alerts = served.get("/api/v1/alerts", kind="reconciliation_gap").json()["alerts"]
        series = {a["series"] for a in alerts}
        if len(series) >= 2:
            break
        time.sleep(0.5)
    assert "reconciliation:provider=openai|model=gpt-4o-mini" in series
    assert "reconciliation:provider=anthropic|model=claude-3-5-haiku-latest" in series

    scoped = served.get("/api/v1/reconciliation", headers={"authorization": f"Bearer {ACME}"})
    assert scoped.status_code == 403


def test_the_dashboard_page_shows_the_apis_figures(
    served: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the bills of the test above: the page's figures are the API's."""
    start, end = window(DEFAULT_RANGE, dt.datetime.now(dt.UTC))
    last = max(end.date(), start.date() + dt.timedelta(days=1))
    report = served.get("/api/v1/reconciliation", start=start.date(), end=last).json()
    assert report["rows"], "the bills of the previous test are imported"
    app = run_page("reconciliation", served.http_url, monkeypatch, token=ADMIN)
    billed = sum(Decimal(m["billed_usd"]) for m in report["models"] if m["billed_usd"])
    assert metric(app, "Billed") == usd(billed)
    gap = sum(Decimal(m["gap_usd"]) for m in report["models"])
    assert metric(app, "Gap") == usd(gap)
    assert metric(app, "Over the alert threshold") == str(
        sum(1 for m in report["models"] if m["firing"])
    )
    shown = next(frame.value for frame in app.dataframe if "likely cause" in frame.value.columns)
    assert "price differs" in set(shown["likely cause"])
    scoped = run_page("reconciliation", served.http_url, monkeypatch, token=ACME)
    assert any("may not read them" in w.value for w in scoped.warning)
