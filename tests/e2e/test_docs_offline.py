"""The API docs pages work without internet (issue 17, item 11): FastAPI's own `/docs`
loaded Swagger UI from a CDN and was blank offline. Every asset the pages name is served by
the service itself, and in a browser that may reach nothing but loopback both pages draw
the API. The OpenAPI document does not list the pages or their assets."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Route, sync_playwright

from sample_data.harness.server import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAGES = ("/docs", "/redoc")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("docs")) as process:
        yield process


def referenced(html: str) -> list[str]:
    """The URLs a page loads: every src= and href=."""
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)


@pytest.mark.parametrize("page", PAGES)
def test_every_asset_of_the_page_is_served_by_the_service(server: ServerProcess, page: str) -> None:
    response = server.get(page)
    assert response.status_code == 200
    html = response.text
    assert "cdn." not in html and "googleapis" not in html
    urls = referenced(html)
    assert any(url.endswith(".js") for url in urls), html
    for url in urls:
        assert not urlsplit(url).netloc, f"{page} loads {url} from elsewhere"
        asset = server.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url  # the real files, not an empty stand-in


def test_the_openapi_document_does_not_list_the_pages(server: ServerProcess) -> None:
    paths = server.get("/openapi.json").json()["paths"]
    assert paths and all(path.startswith(("/api/", "/v1/")) for path in paths), list(paths)


@pytest.mark.parametrize(
    ("page", "drawn"),
    [("/docs", ".swagger-ui .opblock"), ("/redoc", "[data-section-id^='operation/']")],
)
def test_the_page_draws_the_api_in_a_browser_without_internet(
    server: ServerProcess, page: str, drawn: str
) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("SPENDSCOPE_E2E_REQUIRED") == "1":
            raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    refused: list[str] = []

    def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page()
            tab.route("**/*", loopback_only)
            tab.goto(f"{server.http_url}{page}")
            tab.locator(drawn).first.wait_for(timeout=60_000)
            assert "spendscope" in tab.content()
            assert tab.locator(drawn).count() > 10  # the operations, drawn
        finally:
            browser.close()
    # ReDoc's own "API docs by Redocly" badge is an image on its CDN: offline the page only
    # lacks that badge. Nothing else may come from outside.
    assert [url for url in refused if not url.endswith("/redoc/logo-mini.svg")] == []
