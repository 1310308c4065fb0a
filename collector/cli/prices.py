"""`spendscope prices list|check`: the price book from the running service, and the price
file checked before it is loaded.

`list` reads through the HTTP API (the serving process owns the database file); `check`
reads the price file (and the catalog file, if one is set), then, when no service holds the
database, opens it read-only to show which models and calls each entry would cover.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import duckdb
import httpx
import typer
from rich.console import Console
from rich.table import Table

from collector.cli.client import service_client
from collector.cli.options import option_help, setting_option
from collector.settings import Settings
from warehouse.config.price_file import PriceFileError, find_price_file, load_price_file
from warehouse.gpu.prices import load_gpu_prices
from warehouse.pricing.catalog_file import CatalogFileError, parse_catalog
from warehouse.pricing.job import current_book
from warehouse.pricing.pricebook import Override
from warehouse.queries.prices import override_coverage

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
    """Validate the price file (prices.toml or prices.yaml in the data directory) and the
    catalog file, and show what each price covers in the stored spans."""
    settings = _settings(data_dir=data_dir)
    try:
        if file is not None:
            path: Path | None = file
            count = _entries(file)
        else:
            path, count = check_price_file(settings.data_dir)
        if settings.catalog_file is not None:
            raw = settings.catalog_file.read_bytes()
            catalog = parse_catalog(raw, str(settings.catalog_file))
    except (PriceFileError, CatalogFileError) as exc:
        for error in exc.errors:
            typer.echo(error, err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"{settings.catalog_file}: cannot read ({exc.strerror or exc})", err=True)
        raise typer.Exit(1) from None
    if settings.catalog_file is not None:
        typer.echo(
            f"{settings.catalog_file}: catalog OK, {len(catalog.providers)} providers, "
            f"{catalog.models} models (sha256 {catalog.sha256[:12]})"
        )
    if path is None:
        typer.echo("no price file (prices.toml or prices.yaml): catalog prices only")
        return
    typer.echo(f"{path}: {count} price(s) OK")
    for line in coverage_lines(settings.database_path, load_price_file(path)):
        typer.echo(line)


def coverage_lines(database: Path, overrides: list[Override], shown: int = 8) -> list[str]:
    """What each of the price file's overrides would cover in the stored spans."""
    if not overrides:
        return []
    if not database.exists():
        return [f"{database}: no database yet, so nothing to cover"]
    try:
        connection = duckdb.connect(str(database), read_only=True)
    except duckdb.IOException:
        return [
            f"{database} is in use by the service: `spendscope prices list` shows what the "
            "loaded prices cover"
        ]
    try:
        coverage = override_coverage(connection, current_book(connection), overrides)
    except duckdb.CatalogException:
        return [f"{database}: an older schema (run `spendscope migrate`): coverage not shown"]
    finally:
        connection.close()
    lines = []
    for index, (override, covered) in enumerate(zip(overrides, coverage, strict=True), start=1):
        label = f"price #{index} ({override.provider}/{override.model_pattern})"
        models = covered["covers"]
        listed = ", ".join(
            f"{c['provider']}/{c['model']} ({c['match']}, {c['calls']} calls)"
            for c in models[:shown]
        )
        more = f" and {len(models) - shown} more" if len(models) > shown else ""
        lines.append(
            f"{label}: covers {len(models)} model(s), {covered['covered_calls']} call(s)"
            + (f": {listed}{more}" if models else "")
        )
        if covered["warning"]:
            lines.append(f"warning: {label}: {covered['warning']}")
    return lines


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
    client = service_client(url, token)
    try:
        with client:
            response = client.get("/api/v1/prices")
            response.raise_for_status()
    except httpx.HTTPError as exc:
        typer.echo(f"cannot read prices from {client.base_url}: {exc}", err=True)
        raise typer.Exit(1) from None
    report = response.json()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    _print_report(Console(), report)


def _cost(model: dict[str, Any]) -> str:
    """A model's cost, marked when some of its calls have no price (never shown as 0)."""
    unpriced = model["calls"] - model["priced_calls"]
    if model["cost_usd"] is None:
        return "unpriced" if unpriced else "-"
    return f"{model['cost_usd']} + {unpriced} unpriced calls" if unpriced else model["cost_usd"]


def _print_report(console: Console, report: dict[str, Any]) -> None:
    """The price report as tables: models in use, overrides (with what they cover), unpriced."""
    catalog = report["catalog"]
    in_force = (
        f"genai-prices {catalog['version']}"
        if catalog.get("source", "bundled") == "bundled"
        else f"{catalog['location']}, sha256 {catalog['sha256'][:12]}"
    )
    models = Table(title=f"Models in use (catalog: {in_force})")
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
            _cost(m),
            f"{rates['input_mtok']} / {rates['output_mtok']}" if rates else "unpriced",
            period["source"] if period else "-",
        )
    console.print(models)
    overrides = Table(title="Overrides")
    columns = ("id", "provider", "model", "match", "in", "out", "from", "source", "covers", "note")
    for column in columns:
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
            f"{len(o.get('covers', []))} models, {o.get('covered_calls', 0)} calls",
            o["note"] or "",
        )
    console.print(overrides)
    for o in report["overrides"]:
        if o.get("warning"):
            console.print(
                f"warning: override {o['id']} ({o['provider']}/{o['model']}): {o['warning']}"
            )
    for error in catalog.get("rejected", []):
        console.print(f"catalog refused: {error}")
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
