"""The dashboard in a real browser: Playwright drives Debian's Chromium through every page
of a running `spendscope demo --auth` stack, checks the key figures against the API, saves a
screenshot of each page under tests/artifacts/screenshots/ (not committed), and at the end
stops the stack with Ctrl-C (SIGINT), leaving no process behind.

Needs /usr/bin/chromium (`.ci/run` installs it). Skipped when it is missing, unless
SPENDSCOPE_E2E_REQUIRED=1 (set by `.ci/run`), where a missing browser fails.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from dashboard.filters import window
from dashboard.money import usd
from sample_data.schedule import RUNAWAY_DAYS_AGO, RUNAWAY_SESSION
from tests.demo_process import DemoProcess
from tests.test_demo import alive

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Streamlit scrolls inside its own container: a tall viewport is the whole page.
VIEWPORT = {"width": 1400, "height": 2200}
PAGES = {
    "overview": "Overview",
    "unit-economics": "Unit economics",
    "sessions": "Sessions",
    "models": "Models and prices",
    "gpu": "GPU",
    "anomalies": "Anomalies and budgets",
    "alerts": "Alerts",
}

if not CHROMIUM.exists():
    if os.environ.get("SPENDSCOPE_E2E_REQUIRED") == "1":
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    days = str(RUNAWAY_DAYS_AGO + 1)
    with DemoProcess(
        tmp_path_factory.mktemp("e2e"), "--days", days, "--rate", "0", "--auth"
    ) as process:
        yield process


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser: Browser, demo: DemoProcess, url: str, charts: bool = True) -> Page:
    """Loads a page and waits until its last element is drawn and nothing is loading (and
    its first chart, unless `charts` is False: a page without findings has none)."""
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    # The first page is the default one, served at the root.
    page.goto(f"{demo.dashboard_url}/{'' if url == 'overview' else url}")
    page.get_by_role("heading", name=PAGES[url], exact=True).wait_for(timeout=90_000)
    page.get_by_text("Data from ").wait_for(timeout=90_000)  # each page's last line
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=60_000)
    page.locator('[data-testid="stSkeleton"]').first.wait_for(state="detached", timeout=60_000)
    if charts:
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    return page


def metric(page: Page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def table_text(page: Page, index: int = 0) -> str:
    """A dataframe's cells: drawn on a canvas, mirrored in an accessible table."""
    return page.locator('[data-testid="stDataFrame"] table').nth(index).text_content() or ""


def api(demo: DemoProcess, path: str, **params: Any) -> dict[str, Any]:
    response = demo.get(path, **params)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def last_30_days() -> dict[str, str]:
    start, end = window("Last 30 days", dt.datetime.now(dt.UTC))
    return {"start": start.isoformat(), "end": end.isoformat()}


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_overview(browser: Browser, demo: DemoProcess) -> None:
    assert demo.token and httpx.get(f"{demo.api_url}/api/v1/costs").status_code == 401
    page = open_page(browser, demo, "overview")  # the dashboard sends the demo's token
    total = api(demo, "/api/v1/costs", **last_30_days())["totals"]
    assert metric(page, "Spend, last 30 days") == usd(total["cost_usd"])
    assert metric(page, "Month-end forecast").startswith("$")
    assert page.locator(".js-plotly-plot").count() == 3  # trend, by feature, by model
    screenshot(page, "overview")


def test_unit_economics(browser: Browser, demo: DemoProcess) -> None:
    page = open_page(browser, demo, "unit-economics")
    cells = table_text(page)
    for row in api(demo, "/api/v1/unit-economics", **last_30_days())["features"]:
        if row["calls"]:
            assert row["feature"] in cells
            assert usd(row["cost_usd"]) in cells
            assert usd(row["cost_per_value_unit_usd"]) in cells
    assert page.get_by_role("button", name="Download CSV").count() == 1
    screenshot(page, "unit-economics")


def test_sessions(browser: Browser, demo: DemoProcess) -> None:
    page = open_page(browser, demo, "sessions")
    detail = api(demo, f"/api/v1/sessions/{RUNAWAY_SESSION}")
    assert page.get_by_text(RUNAWAY_SESSION).first.is_visible()
    assert page.get_by_role("heading", name=f"Session {RUNAWAY_SESSION}").is_visible()
    assert metric(page, "Model calls") == f"{detail['session']['calls']:,}"
    assert metric(page, "Cost") == usd(detail["session"]["cost_usd"])
    screenshot(page, "sessions")


def test_models_and_prices(browser: Browser, demo: DemoProcess) -> None:
    page = open_page(browser, demo, "models")
    savings = api(demo, "/api/v1/cache-savings", **last_30_days())
    assert metric(page, "Saved by cache reads") == usd(savings["cache_savings_usd"])
    tables = page.locator('[data-testid="stDataFrame"]').count()
    # The model mix: a table before the overrides (the prompt-caching one may precede it).
    mix = [table_text(page, index) for index in range(tables - 1)]
    assert any("meta-llama/Llama-3.1-8B-Instruct" in text for text in mix)
    overrides = api(demo, "/api/v1/prices")["overrides"]
    assert [o["model"] for o in overrides] == ["meta-llama/Llama-3.1-8B-Instruct"]
    shown = table_text(page, tables - 1)  # the overrides, last (only visible columns are)
    assert overrides[0]["model"] in shown and overrides[0]["input_mtok"] in shown
    screenshot(page, "models")


def test_gpu(browser: Browser, demo: DemoProcess) -> None:
    # The demo's product sends spans only: no GPU metrics, and the page says what to send.
    efficiency = api(demo, "/api/v1/gpu/efficiency", **last_30_days())
    page = open_page(browser, demo, "gpu", charts=bool(efficiency["rows"]))
    if efficiency["rows"]:
        assert metric(page, "GPU cost") == usd(efficiency["totals"]["cost_usd"])
    else:
        assert page.get_by_text("No GPU metrics in this window").is_visible()
    screenshot(page, "gpu")


def test_anomalies_and_budgets(browser: Browser, demo: DemoProcess) -> None:
    found = api(demo, "/api/v1/anomalies", **last_30_days())["anomalies"]
    budgets = api(demo, "/api/v1/budgets")["budgets"]
    page = open_page(browser, demo, "anomalies", charts=bool(found or budgets))
    assert metric(page, "Found in the window") == str(len(found))
    if found:
        assert found[0]["title"] in table_text(page, 0)
    else:
        assert page.get_by_text("Nothing unusual found in this window").is_visible()
    screenshot(page, "anomalies")


def test_alerts(browser: Browser, demo: DemoProcess) -> None:
    alerts = api(demo, "/api/v1/alerts", since=last_30_days()["start"])["alerts"]
    page = open_page(browser, demo, "alerts", charts=bool(alerts))
    assert metric(page, "Open") == str(sum(1 for a in alerts if a["status"] == "open"))
    if not alerts:
        assert page.get_by_text("No incidents in this window").is_visible()
    screenshot(page, "alerts")


def test_ctrl_c_stops_the_whole_stack(demo: DemoProcess) -> None:
    children = demo.children()
    assert len(children) == 2  # the service and the dashboard
    assert demo.stop(signal.SIGINT) == 0
    assert "spendscope demo stopped." in demo.text()
    assert not [pid for pid in children if alive(pid)]
