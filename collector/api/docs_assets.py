"""The API docs pages (`/docs`, Swagger UI; `/redoc`, ReDoc) served with their scripts and
styles from the installed package, not a CDN: FastAPI's own pages load them from the
internet and are blank without it.

The assets are the dist files the `fastapi-offline` package ships (Swagger UI 5, ReDoc 2,
a favicon); only its files are used. The pages are not part of the OpenAPI document, which
stays as it was.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

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
    pages = {url for url in (app.docs_url, app.redoc_url) if url}
    app.router.routes[:] = [route for route in app.router.routes if not _is_page(route, pages)]
    app.mount(ASSETS_URL, StaticFiles(directory=assets_directory()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    def assets(request: Request) -> str:
        return f"{request.scope.get('root_path', '')}{ASSETS_URL}"

    if app.docs_url:

        @app.get(app.docs_url, include_in_schema=False)
        def swagger_ui(request: Request) -> HTMLResponse:
            root = request.scope.get("root_path", "")
            return get_swagger_ui_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
                swagger_js_url=f"{assets(request)}/swagger-ui-bundle.js",
                swagger_css_url=f"{assets(request)}/swagger-ui.css",
                swagger_favicon_url=f"{assets(request)}/favicon.png",
                swagger_ui_parameters=app.swagger_ui_parameters,
            )

    if app.redoc_url:

        @app.get(app.redoc_url, include_in_schema=False)
        def redoc(request: Request) -> HTMLResponse:
            root = request.scope.get("root_path", "")
            return get_redoc_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{assets(request)}/redoc.standalone.js",
                redoc_favicon_url=f"{assets(request)}/favicon.png",
                with_google_fonts=False,
            )


def _is_page(route: BaseRoute, pages: set[str]) -> bool:
    return isinstance(route, Route) and route.path in pages
