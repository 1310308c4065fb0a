"""The dashboard in a real browser: Playwright drives Debian's Chromium through every page
of a running `spendscope demo --auth` stack, checks the key figures against the API, saves a
screenshot of each page under tests/artifacts/screenshots/ (not committed), and at the end
stops the stack with Ctrl-C (SIGINT), leaving no process behind.

Needs /usr/bin/chromium (`.ci/run` installs it). Skipped when it is missing, unless
SPENDSCOPE_E2E_REQUIRED=1 (set by `.ci/run`), where a missing browser fails.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from dashboard.breakeven import break_even
from dashboard.filters import DEFAULT_RANGE, window
from dashboard.money import lower_bound, share, usd
from dashboard.money import total as marked
from sample_data.product import NEGOTIATED_PRICE, VLLM_GPU_PRICE
from sample_data.schedule import LIVE_RUNAWAY_PREFIX, RUNAWAY_DAYS_AGO, RUNAWAY_SESSION
from tests.e2e.test_demo import alive
from tests.support.demo_process import DemoProcess
from tests.support.paths import ARTIFACTS

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Streamlit scrolls inside its own container: a tall viewport is the whole page.
VIEWPORT = {"width": 1400, "height": 2900}
PAGES = {
    "overview": "Overview",
    "unit-economics": "Unit economics",
    "sessions": "Sessions",
    "models": "Models and prices",
    "gpu": "GPU",
    "anomalies": "Anomalies and budgets",
    "alerts": "Alerts",
    "reconciliation": "Bill reconciliation",
    "savings": "Savings",
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
        wait_found(process)
        yield process


def wait_found(demo: DemoProcess, timeout: float = 150.0) -> None:
    """Until the detectors (spend anomalies every minute, runaways every 10 s) have found
    the live incidents the demo starts with."""
    kinds = {"spend_anomaly", "runaway_session", "budget"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = {a["kind"] for a in api(demo, "/api/v1/anomalies")["anomalies"] if a["firing"]}
        if kinds <= found:
            return
        time.sleep(1)
    raise TimeoutError(f"the detectors found only {sorted(found)}")


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
    # The exact label: "GPU cost" is not "Idle GPU cost".
    box = (
        page.locator('[data-testid="stMetric"]')
        .filter(has=page.get_by_text(label, exact=True))
        .first
    )
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def table_text(page: Page, index: int = 0) -> str:
    """The cells of the page's `index`-th dataframe: drawn on a canvas, mirrored in an
    accessible table that may mount after the page's last line (waited for here: counting
    the mirrors instead of the dataframes mixed up the tables of a page still drawing)."""
    mirror = page.locator('[data-testid="stDataFrame"]').nth(index).locator("table")
    return mirror.text_content() or ""


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


def test_a_page_opened_by_its_link_in_the_first_session(
    browser: Browser, demo: DemoProcess
) -> None:
    # First in this module: the dashboard's first session. Streamlit served a `pages/`
    # directory beside the main script as its own page list until the script had run once,
    # so a bookmarked /models opened blank after every start (the pages are now modules
    # of dashboard.views).
    page = open_page(browser, demo, "models")
    assert metric(page, "Saved by cache reads").startswith("$")


def test_overview(browser: Browser, demo: DemoProcess) -> None:
    assert demo.token and httpx.get(f"{demo.api_url}/api/v1/costs").status_code == 401
    page = open_page(browser, demo, "overview")  # the dashboard sends the demo's token
    total = api(demo, "/api/v1/costs", **last_30_days())["totals"]
    assert metric(page, "Spend, last 30 days") == marked(total)
    assert metric(page, "Month-end forecast").startswith("$")
    assert page.locator(".js-plotly-plot").count() == 3  # trend, by feature, by model
    # Then the open anomalies (the live spike and runaway) and the budgets.
    tables = page.locator('[data-testid="stDataFrame"]').count()
    found = api(demo, "/api/v1/anomalies")["anomalies"]
    shown = table_text(page, tables - 2)
    assert any(a["title"] in shown for a in found if a["kind"] == "runaway_session")
    assert any(a["title"] in shown for a in found if a["series"] == "spend:hour:total")
    budgets = table_text(page, tables - 1)
    for budget in api(demo, "/api/v1/budgets")["budgets"]:
        assert budget["name"] in budgets and usd(budget["spend_usd"]) in budgets
    screenshot(page, "overview")


def test_unit_economics(browser: Browser, demo: DemoProcess) -> None:
    page = open_page(browser, demo, "unit-economics")
    cells = table_text(page)
    for row in api(demo, "/api/v1/unit-economics", **last_30_days())["features"]:
        if row["calls"]:
            assert row["feature"] in cells
            assert marked(row) in cells
            assert lower_bound(row["cost_per_value_unit_usd"], row) in cells
    assert page.get_by_role("button", name="Download CSV").count() == 1
    screenshot(page, "unit-economics")


def test_sessions(browser: Browser, demo: DemoProcess) -> None:
    page = open_page(browser, demo, "sessions")
    found = api(demo, "/api/v1/anomalies", kind="runaway_session")["anomalies"]
    live = found[0]["details"]["session_id"]
    assert live.startswith(LIVE_RUNAWAY_PREFIX)
    assert live in table_text(page, 0)  # the detector's runaways
    assert RUNAWAY_SESSION in table_text(page, 1)  # the costliest sessions
    detail = api(demo, f"/api/v1/sessions/{live}")
    assert page.get_by_role("heading", name=f"Session {live}").is_visible()
    assert metric(page, "Model calls") == f"{detail['session']['calls']:,}"
    assert metric(page, "Cost") == marked(detail["session"])
    screenshot(page, "sessions")


def test_models_and_prices(browser: Browser, demo: DemoProcess) -> None:
    page = open_page(browser, demo, "models")
    savings = api(demo, "/api/v1/cache-savings", **last_30_days())
    assert metric(page, "Saved by cache reads") == marked(savings, "cache_savings_usd")
    tables = page.locator('[data-testid="stDataFrame"]').count()
    # The model mix: a table before the overrides (the prompt-caching one may precede it).
    mix = [table_text(page, index) for index in range(tables - 1)]
    assert any("meta-llama/Llama-3.1-8B-Instruct" in text for text in mix)
    overrides = api(demo, "/api/v1/prices")["overrides"]
    assert [o["model"] for o in overrides] == [NEGOTIATED_PRICE["model"]]
    shown = table_text(page, tables - 1)  # the overrides, last (only visible columns are)
    assert overrides[0]["model"] in shown and overrides[0]["input_mtok"] in shown
    screenshot(page, "models")


def test_gpu(browser: Browser, demo: DemoProcess) -> None:
    # The vLLM deployment's DCGM and vLLM metrics, priced per GPU-hour, against the
    # page's first reference model.
    reference = "openai/gpt-4o-mini"
    totals = api(demo, "/api/v1/gpu/efficiency", reference=reference, **last_30_days())["totals"]
    assert totals["gpus"] == 1 and totals["prompt_tokens"] > 0
    page = open_page(browser, demo, "gpu")
    assert metric(page, "Utilization") == share(totals["utilization"])
    assert metric(page, "GPU cost") == usd(totals["cost_usd"])
    assert metric(page, "Idle GPU cost") == usd(totals["idle_cost_usd"])
    assert metric(page, "Cost / million tokens") == usd(totals["cost_per_million_tokens_usd"])
    even = break_even(totals)
    assert even is not None
    assert metric(page, f"{reference} / million tokens") == usd(even.reference_per_mtok)
    # The vLLM calls are charged the GPU-hours; only an hour without a batch call (the
    # first or the last one, when the demo starts before five past) keeps its cost.
    [deployment] = api(demo, "/api/v1/gpu/allocation", **last_30_days())["deployments"]
    assert Decimal(deployment["allocated_usd"]) > 0
    assert Decimal(deployment["unallocated_usd"]) <= 2 * Decimal(VLLM_GPU_PRICE["usd_per_gpu_hour"])
    screenshot(page, "gpu")


def test_anomalies_and_budgets(browser: Browser, demo: DemoProcess) -> None:
    found = api(demo, "/api/v1/anomalies", **last_30_days())["anomalies"]
    budgets = api(demo, "/api/v1/budgets")["budgets"]
    page = open_page(browser, demo, "anomalies")
    assert metric(page, "Found in the window") == str(len(found))
    assert {"spend_anomaly", "runaway_session", "budget"} <= {a["kind"] for a in found}
    assert found[0]["title"] in table_text(page, 0)
    assert len(budgets) == 3
    # The live budget check: the demo's spike overran search-daily, which it enforces.
    page.get_by_label("Feature", exact=True).fill("search")
    page.get_by_label("Feature", exact=True).press("Enter")
    page.get_by_text("Denied", exact=False).first.wait_for(timeout=30_000)
    assert metric(page, "Decision") == "deny"
    answer = api(demo, "/api/v1/budget/check", feature="search")
    assert answer["reason"] in page.inner_text("body")
    screenshot(page, "anomalies")


def test_alerts(browser: Browser, demo: DemoProcess) -> None:
    alerts = api(demo, "/api/v1/alerts", since=last_30_days()["start"])["alerts"]
    page = open_page(browser, demo, "alerts")
    assert metric(page, "Open") == str(sum(1 for a in alerts if a["status"] == "open"))
    # Delivered to the demo's loopback webhook, which kept each notice.
    sent = [d for a in alerts for d in a["deliveries"] if d["status"] == "sent"]
    assert sent and all(d["channel"] == "webhook" for d in sent)
    kept = (demo.data_dir / "alerts.jsonl").read_text().splitlines()
    assert len(kept) >= len(sent)
    # Each notice links its incident on the demo's dashboard.
    links = [json.loads(line).get("dashboard_url") for line in kept]
    assert links and all(
        str(link).startswith(f"{demo.dashboard_url}/alerts?incident=") for link in links
    ), links
    tables = page.locator('[data-testid="stDataFrame"]').count()
    assert any("sent at" in table_text(page, index) for index in range(tables))
    screenshot(page, "alerts")


def test_bill_reconciliation(browser: Browser, demo: DemoProcess) -> None:
    """The sample bill the demo imported, against the spans: the page's figures are the
    API's for the dashboard's default window."""
    start, end = window(DEFAULT_RANGE, dt.datetime.now(dt.UTC))
    last = max(end.date(), start.date() + dt.timedelta(days=1))
    report = api(demo, "/api/v1/reconciliation", start=start.date(), end=last)
    billed = sum(Decimal(m["billed_usd"]) for m in report["models"] if m["billed_usd"])
    assert billed > 0
    page = open_page(browser, demo, "reconciliation")
    assert metric(page, "Billed") == usd(billed)
    assert "price differs" in table_text(page, 0)
    screenshot(page, "reconciliation")


def test_savings(browser: Browser, demo: DemoProcess) -> None:
    """The demo populates every kind: the live search spike's gpt-4o where gpt-4o-mini also
    served (a swap), the summarizer's uncached follow-ups (caching), the classification
    job marked non-interactive (batch)."""
    body = api(demo, "/api/v1/savings", **last_30_days())
    kinds = {(o["kind"], o["feature"]) for o in body["opportunities"]}
    assert {("prompt_caching", "summarizer"), ("batch", "classification")} <= kinds
    assert any(kind == "model_swap" for kind, _ in kinds)
    page = open_page(browser, demo, "savings", charts=False)
    assert metric(page, "Opportunities") == str(len(body["opportunities"]))
    assert metric(page, "Up to, per month") == usd(body["monthly_savings_usd"])
    ranked = table_text(page, 0)
    for o in body["opportunities"]:
        assert o["feature"] in ranked and usd(o["monthly_savings"]["usd"]) in ranked
    screenshot(page, "savings")


def test_ctrl_c_stops_the_whole_stack(demo: DemoProcess) -> None:
    children = demo.children()
    assert len(children) == 2  # the service and the dashboard
    assert demo.stop(signal.SIGINT) == 0
    assert "spendscope demo stopped." in demo.text()
    assert not [pid for pid in children if alive(pid)]
