"""Every dashboard page in a real browser on the first day, and after weeks: a real server
holding no data, one hour, one day and 28 days of the sample product (its prices and
budgets too), the dashboard reading it, Chromium driven by Playwright.

What a newcomer saw on day one: axes with ticks like "23:59:59.9996 ... 00:00:00.0004"
(a time axis around a single bar) and cost axes running below zero. Each page, at each
size, must draw without an exception or an API error, every cost axis from zero up, and
no time axis labelled in fractions of a second nor the same label twice.

One server and one dashboard per size (module fixture, parametrized), the pages in a loop.
Skipped without /usr/bin/chromium, unless SPENDSCOPE_E2E_REQUIRED=1.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from dashboard.views import PAGES
from sample_data.demo import DETECTION_FILE, configure_prices
from sample_data.harness.server import ServerProcess
from sample_data.product import VALUE_UNITS
from sample_data.schedule import Shape
from sample_data.sender import SampleSender
from tests.e2e.test_dashboard_e2e import SCREENSHOTS, VIEWPORT, browser  # noqa: F401
from tests.support.dashboard_process import DashboardProcess

# 28 days of spans and GPU scrapes take minutes on a busy 2-core machine.
pytestmark = pytest.mark.timeout(900)
SIZES = {"empty": 0.0, "one-hour": 1 / 24, "one-day": 1.0, "four-weeks": 28.0}
SHAPE = Shape(peak_sessions_per_hour=3)
VALUE_UNIT_ENV = ",".join(f"{feature}={unit}" for feature, unit in VALUE_UNITS.items())
SUBSECOND = re.compile(r"\d:\d\d\.\d")
# Costs that may be negative: a bill's gap to spendscope goes either way.
SIGNED_COST_AXES = ("bill - spendscope",)
AXES_JS = """
() => Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(plot => {
  const layout = plot._fullLayout;
  return Object.keys(layout).filter(k => /^[xy]axis\\d*$/.test(k)).map(k => {
    const axis = layout[k];
    const letter = k.slice(0, 1) + k.slice(5);
    return {
      name: k,
      title: (axis.title && axis.title.text) || '',
      type: axis.type,
      range: axis.range,
      ticks: Array.from(plot.querySelectorAll('g.' + letter + 'tick text'))
        .map(t => t.textContent),
    };
  });
})
"""


class Stack:
    def __init__(self, server: ServerProcess, dashboard: DashboardProcess) -> None:
        self.server, self.dashboard = server, dashboard


@pytest.fixture(scope="module", params=list(SIZES))
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    days = SIZES[request.param]
    data_dir = tmp_path_factory.mktemp(request.param)
    (data_dir / "detection.toml").write_text(DETECTION_FILE)
    server = ServerProcess(data_dir, env={"SPENDSCOPE_VALUE_UNITS": VALUE_UNIT_ENV})
    server.start()
    try:
        if days:
            start = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
            with httpx.Client(base_url=server.http_url) as http:
                configure_prices(http, start)
            sender = SampleSender(server.http_url, seed=5)
            sender.backfill(days, shape=SHAPE)
            sender.close()
            server.wait_attributed(timeout=120)
        with DashboardProcess(server.http_url, data_dir / "dashboard.log") as dashboard:
            yield Stack(server, dashboard)
    finally:
        server.kill()
        server.client.close()


def open_page(browser: Browser, stack: Stack, url: str) -> Page:  # noqa: F811
    """Loads a page and waits until its last line is drawn and nothing is loading."""
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    page.goto(f"{stack.dashboard.url}/{'' if url == PAGES[0].url_path else url}")
    page.get_by_text("Data from ").wait_for(timeout=90_000)  # each page's last line
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=60_000)
    page.locator('[data-testid="stSkeleton"]').first.wait_for(state="detached", timeout=60_000)
    for plot in page.locator(".js-plotly-plot").all():  # drawn (a donut has no axes)
        plot.locator("g.pielayer, g.xtick, g.ytick").first.wait_for(
            state="attached", timeout=30_000
        )
    return page


def axis_problems(axes: list[dict[str, Any]]) -> list[str]:
    """What is wrong with the charts' axes: a cost axis below zero, a time axis in
    fractions of a second or with one label twice."""
    problems = []
    for axis in axes:
        title, ticks = axis["title"], [t for t in axis["ticks"] if t]
        cost = "USD" in title or "cost" in title.lower()
        signed = any(part in title for part in SIGNED_COST_AXES)
        if cost and not signed and axis["type"] == "linear" and axis["range"][0] < 0:
            problems.append(f"{axis['name']} {title!r} runs below zero: {axis['range']}")
        if any(SUBSECOND.search(tick) for tick in ticks):
            problems.append(f"{axis['name']} {title!r} ticks in fractions of a second: {ticks}")
        if axis["type"] == "date" and len(set(ticks)) < len(ticks):
            problems.append(f"{axis['name']} {title!r} repeats a tick label: {ticks}")
    return problems


@pytest.mark.parametrize("url", [page.url_path for page in PAGES])
def test_every_page_reads_well_at_every_size(
    browser: Browser,  # noqa: F811
    stack: Stack,
    url: str,
    request: pytest.FixtureRequest,
) -> None:
    page = open_page(browser, stack, url)
    try:
        assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")
        assert "did not answer as expected" not in page.inner_text("body")
        axes: list[dict[str, Any]] = page.evaluate(AXES_JS)
        assert axis_problems(axes) == []
    finally:
        (SCREENSHOTS / "sizes").mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w-]", "_", request.node.callspec.id)
        page.screenshot(path=str(SCREENSHOTS / "sizes" / f"{name}.png"))
        page.close()


def test_the_axis_checks_find_what_day_one_showed() -> None:
    """The checks above catch the charts a newcomer saw."""
    day_one = [
        {"name": "xaxis", "title": "day", "type": "date", "range": ["a", "b"],
         "ticks": ["23:59:59.9996", "00:00:00.0004"]},
        {"name": "yaxis", "title": "cost (USD)", "type": "linear", "range": [-1, 4],
         "ticks": ["-1", "0", "4"]},
        {"name": "xaxis2", "title": "", "type": "date", "range": ["a", "b"],
         "ticks": ["Jan 5", "Jan 5"]},
    ]  # fmt: skip
    assert len(axis_problems(day_one)) == 3
    assert axis_problems([{**day_one[1], "title": "USD (bill - spendscope)"}]) == []
