"""The API docs pages (`/docs`, Swagger UI; `/redoc`, ReDoc) served with their scripts and
styles from the installed package, not a CDN: FastAPI's own pages load them from the
internet and are blank without it.

The assets are the dist files the `fastapi-offline` package ships (Swagger UI 5, ReDoc 2,
a favicon); only its files are used. The pages are not part of the OpenAPI document, which
stays as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route
from starlette.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"


def assets_directory() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def serve_docs_offline(app: FastAPI) -> None:
    """Replaces the app's CDN-loading docs pages with pages whose assets it serves itself
    under `ASSETS_URL` (the OAuth2 redirect page has no assets and stays)."""
    swagger = {
        "oauth2_redirect_url": app.swagger_ui_oauth2_redirect_url,
        "swagger_ui_parameters": app.swagger_ui_parameters,
    }
    pages = {
        app.docs_url: Page(get_swagger_ui_html, "Swagger UI", SWAGGER_ASSETS, swagger),
        app.redoc_url: Page(get_redoc_html, "ReDoc", REDOC_ASSETS, {"with_google_fonts": False}),
    }
    served = {url: page for url, page in pages.items() if url}
    app.router.routes[:] = [route for route in app.router.routes if not _is_page(route, served)]
    app.mount(ASSETS_URL, StaticFiles(directory=assets_directory()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    for url, page in served.items():
        endpoint = page.endpoint(f"{app.title} - {page.name}", openapi_url)
        app.add_api_route(url, endpoint, include_in_schema=False, response_class=HTMLResponse)


# Each page's asset arguments and the file of the package's static folder they name.
SWAGGER_ASSETS = {
    "swagger_js_url": "swagger-ui-bundle.js",
    "swagger_css_url": "swagger-ui.css",
    "swagger_favicon_url": "favicon.png",
}
REDOC_ASSETS = {"redoc_js_url": "redoc.standalone.js", "redoc_favicon_url": "favicon.png"}


@dataclass(frozen=True)
class Page:
    """A docs page: FastAPI's function that writes it, and what it is given."""

    html: Callable[..., HTMLResponse]
    name: str
    assets: Mapping[str, str]
    options: Mapping[str, Any]

    def endpoint(self, title: str, openapi_url: str) -> Callable[[Request], HTMLResponse]:
        def page(request: Request) -> HTMLResponse:
            root = request.scope.get("root_path", "")  # behind a proxy's path prefix
            files = {key: f"{root}{ASSETS_URL}/{name}" for key, name in self.assets.items()}
            return self.html(
                openapi_url=f"{root}{openapi_url}", title=title, **files, **self.options
            )

        return page


def _is_page(route: BaseRoute, pages: Mapping[str, Page]) -> bool:
    return isinstance(route, Route) and route.path in pages
