"""The running service's API, for the CLI commands that read or change through it."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer

from collector.cli.options import option_help
from collector.settings import Settings

# The options of the commands that talk to a running service.
Url = Annotated[
    str | None,
    typer.Option(
        help=option_help("Service URL.", "from SPENDSCOPE_HOST and SPENDSCOPE_HTTP_PORT"),
        show_default=False,
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        help=option_help("API token.", "the first of SPENDSCOPE_API_TOKENS"),
        show_default=False,
    ),
]


def service_client(url: str | None, token: str | None, timeout: float = 30.0) -> httpx.Client:
    """A client of the service at `url` (default: SPENDSCOPE_HOST / _HTTP_PORT) sending
    `token` (default: the first of SPENDSCOPE_API_TOKENS)."""
    settings = Settings()
    if url is None:
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
        url = f"http://{host}:{settings.http_port}"
    token = token or (settings.api_tokens[0] if settings.api_tokens else None)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
