"""`spendscope prices list|check`: the price book from the running service, and the price
file checked before it is loaded.

`list` reads through the HTTP API (the serving process owns the database file); `check`
only reads the price file, so it works with or without a running service.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from collector.cli.options import option_help, setting_option
from collector.settings import Settings
from warehouse.config.price_file import PriceFileError, find_price_file, load_price_file
from warehouse.gpu.prices import load_gpu_prices

prices_cli = typer.Typer(help="The price book: list what priced what, check the price file.")

DataDir = Annotated[Path | None, setting_option(Settings, "data_dir", text="Data directory.")]


def _settings(**overrides: Any) -> Settings:
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


def check_price_file(data_dir: Path) -> tuple[Path | None, int]:
    """(file, entries) when the data directory's price file is valid; raises PriceFileError."""
    path = find_price_file(data_dir)
    if path is None:
        return None, 0
    return path, _entries(path)


def _entries(path: Path) -> int:
    """Token and GPU price entries; raises PriceFileError naming every bad one."""
    return len(load_price_file(path)) + len(load_gpu_prices(path))


@prices_cli.command("check")
def check(
    data_dir: DataDir = None,
    file: Annotated[
        Path | None,
        typer.Option(
            help=option_help("A price file to check instead.", "the data directory's"),
            show_default=False,
        ),
    ] = None,
) -> None:
    """Validate the price file (prices.toml or prices.yaml in the data directory)."""
    try:
        if file is not None:
            path: Path | None = file
            count = _entries(file)
        else:
            path, count = check_price_file(_settings(data_dir=data_dir).data_dir)
    except PriceFileError as exc:
        for error in exc.errors:
            typer.echo(error, err=True)
        raise typer.Exit(1) from None
    if path is None:
        typer.echo("no price file (prices.toml or prices.yaml): catalog prices only")
    else:
        typer.echo(f"{path}: {count} price(s) OK")


def _current(periods: list[dict[str, Any]]) -> dict[str, Any] | None:
    now = dt.datetime.now(dt.UTC).isoformat()
    for period in periods:
        starts = period["effective_from"] is None or period["effective_from"] <= now
        ends = period["effective_to"] is None or now < period["effective_to"]
        if starts and ends and period["min_input_tokens"] == 0:
            return period
    return None


@prices_cli.command("list")
def list_prices(
    url: Annotated[
        str | None,
        typer.Option(
            help=option_help("Service URL.", "from SPENDSCOPE_HOST and SPENDSCOPE_HTTP_PORT"),
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help=option_help("API token.", "the first of SPENDSCOPE_API_TOKENS"),
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help=option_help("Print the raw JSON.", "false"))
    ] = False,
) -> None:
    """Models in use and their prices, overrides and unpriced models, from the service."""
    settings = _settings()
    if url is None:
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
        url = f"http://{host}:{settings.http_port}"
    token = token or (settings.api_tokens[0] if settings.api_tokens else None)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(f"{url.rstrip('/')}/api/v1/prices", headers=headers, timeout=30)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        typer.echo(f"cannot read prices from {url}: {exc}", err=True)
        raise typer.Exit(1) from None
    report = response.json()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    console = Console()
    models = Table(title=f"Models in use (catalog: genai-prices {report['catalog']['version']})")
    for column in ("provider", "model", "matched", "calls", "cost USD", "in/out per MTok", "by"):
        models.add_column(column)
    for m in report["models"]:
        period = _current(m["periods"])
        rates = period["rates"] if period else None
        models.add_row(
            m["provider"],
            m["model"],
            f"{m['catalog_provider']}/{m['catalog_model']}" if m["catalog_model"] else "-",
            str(m["calls"]),
            m["cost_usd"] or "-",
            f"{rates['input_mtok']} / {rates['output_mtok']}" if rates else "unpriced",
            period["source"] if period else "-",
        )
    console.print(models)
    overrides = Table(title="Overrides")
    for column in ("id", "provider", "model", "match", "in", "out", "from", "source", "note"):
        overrides.add_column(column)
    for o in report["overrides"]:
        overrides.add_row(
            str(o["id"]),
            o["provider"],
            o["model"],
            o["match"],
            o["input_mtok"],
            o["output_mtok"],
            "always" if o["effective_from"].startswith("1970-01-01") else o["effective_from"][:19],
            o["source"],
            o["note"] or "",
        )
    console.print(overrides)
    unpriced = Table(title="Unpriced (never counted as $0)")
    for column in ("provider", "model", "reason", "calls", "input tokens", "output tokens"):
        unpriced.add_column(column)
    for u in report["unpriced"]:
        unpriced.add_row(
            u["provider"] or "-",
            u["model"] or "-",
            u["reason"],
            str(u["calls"]),
            str(u["input_tokens"]),
            str(u["output_tokens"]),
        )
    console.print(unpriced)
    if not report["up_to_date"]:
        console.print("re-pricing in progress after a price change")
