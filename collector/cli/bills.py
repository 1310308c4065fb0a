"""`spendscope bills import|pull|reconcile`: provider bills into the running service, and
the reconciliation out of it.

The serving process owns the database, so every command goes through the HTTP API:
`import` posts bill files (`POST /api/v1/reconciliation/bills`), `pull` fetches the OpenAI
or Anthropic admin API's usage and cost reports (`collector.billing.admin_api`, with an
admin key) and posts them the same way, `reconcile` prints `GET /api/v1/reconciliation`.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from collector.billing.admin_api import BASE_URLS, PullError, Source, pull
from collector.cli.client import Token, Url, service_client
from collector.cli.options import option_help

bills_cli = typer.Typer(help="Provider bills: import, pull from admin APIs, reconcile.")

Day = Annotated[
    dt.datetime | None,
    typer.Option(
        formats=["%Y-%m-%d"],
        help=option_help("A UTC day, YYYY-MM-DD.", "see the command"),
        show_default=False,
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


def post_bill(
    client: httpx.Client, content: bytes, name: str, params: dict[str, str]
) -> dict[str, Any]:
    """Import one bill through the API; exits 1 naming the bad rows when it is refused."""
    try:
        response = client.post(
            "/api/v1/reconciliation/bills", content=content, params={"name": name, **params}
        )
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach the service: {exc}") from None
    if response.status_code == 422:
        detail = response.json().get("detail")
        lines = detail if isinstance(detail, list) else [str(detail)]
        raise _fail("\n".join(str(line) for line in lines))
    if response.status_code >= 400:
        raise _fail(f"{name}: the service answered {response.status_code}: {response.text[:300]}")
    result: dict[str, Any] = response.json()
    return result


def _report(result: dict[str, Any]) -> str:
    days = f"{result['first_day']} to {result['last_day']}" if result["first_day"] else "no days"
    if result["status"] == "unchanged":
        return f"{result['name']}: already imported (import {result['id']}): nothing changed"
    return (
        f"{result['name']}: imported {result['lines']} line(s) ({result['changed_lines']} new "
        f"or changed) from a {result['format']} bill, {days}"
        + (
            f"; {result['skipped_rows']} row(s) not per-model usage"
            if result["skipped_rows"]
            else ""
        )
    )


@bills_cli.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(help="Bill files (JSON pages or FOCUS CSV).")],
    bill_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help=option_help("openai, anthropic or focus.", "recognized from the file"),
            show_default=False,
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            help=option_help("FOCUS: the span provider of every row.", "from ServiceName"),
            show_default=False,
        ),
    ] = None,
    cost_column: Annotated[str, typer.Option(help="FOCUS: the cost column.")] = "BilledCost",
    url: Url = None,
    token: Token = None,
) -> None:
    """Import bill files; a bad file is refused whole, naming its bad rows."""
    params = {"cost_column": cost_column}
    if bill_format:
        params["format"] = bill_format
    if provider:
        params["provider"] = provider
    with service_client(url, token, timeout=120) as client:
        for path in files:
            try:
                content = path.read_bytes()
            except OSError as exc:
                raise _fail(f"{path}: {exc.strerror}") from None
            typer.echo(_report(post_bill(client, content, path.name, params)))


@bills_cli.command("pull")
def pull_command(
    source: Annotated[str, typer.Argument(help="openai or anthropic.")],
    admin_key: Annotated[
        str,
        typer.Option(
            envvar=["SPENDSCOPE_BILLS_ADMIN_KEY"],
            help=option_help(
                "The organization's admin key.", "none", env="SPENDSCOPE_BILLS_ADMIN_KEY"
            ),
            show_default=False,
        ),
    ],
    start: Day = None,
    end: Day = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            envvar="SPENDSCOPE_BILLS_BASE_URL",
            help=option_help(
                "The admin API's base URL.", "the provider's", env="SPENDSCOPE_BILLS_BASE_URL"
            ),
            show_default=False,
        ),
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option(
            help=option_help("Also save the pulled pages here (JSON).", "not saved"),
            show_default=False,
        ),
    ] = None,
    no_import: Annotated[
        bool,
        typer.Option("--no-import", help=option_help("Only save them.", "false")),
    ] = False,
    deadline: Annotated[float, typer.Option(help="Seconds to keep retrying.")] = 300.0,
    url: Url = None,
    token: Token = None,
) -> None:
    """Pull the usage and cost reports of whole UTC days [start, end) (default: the last
    7 days before today) and import them."""
    if source not in BASE_URLS:
        raise _fail(f"unknown source {source!r}: openai or anthropic")
    last = end.date() if end else dt.datetime.now(dt.UTC).date()
    first = start.date() if start else last - dt.timedelta(days=7)
    chosen: Source = "openai" if source == "openai" else "anthropic"
    try:
        bundle = pull(chosen, admin_key, first, last, base_url=base_url, deadline_seconds=deadline)
    except PullError as exc:
        raise _fail(f"{source}: {exc}") from None
    content = json.dumps(bundle, default=str, indent=1).encode()
    pages = sum(len(bundle[part]) for part in ("usage", "costs"))
    typer.echo(f"{source}: pulled {pages} page(s) for {first} to {last}")
    if save is not None:
        save.write_bytes(content)
        typer.echo(f"saved to {save}")
    if not no_import:
        name = f"{source}-{first}-{last}.json"
        with service_client(url, token, timeout=120) as client:
            typer.echo(_report(post_bill(client, content, name, {"format": source})))


def _usd(text: str | None) -> str:
    """Dollars to the cent for a table, rounded from the exact decimal (never through float)."""
    return "-" if text is None else f"{Decimal(text):,.2f}"


@bills_cli.command("reconcile")
def reconcile_command(
    start: Day = None,
    end: Day = None,
    provider: Annotated[
        str | None,
        typer.Option(help=option_help("Only this provider.", "all"), show_default=False),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help=option_help("Print the raw JSON.", "false"))
    ] = False,
    url: Url = None,
    token: Token = None,
) -> None:
    """Billed against span-derived cost, per provider x model and per day, with causes."""
    params = {k: v.date().isoformat() for k, v in (("start", start), ("end", end)) if v}
    if provider:
        params["provider"] = provider
    with service_client(url, token, timeout=120) as client:
        try:
            response = client.get("/api/v1/reconciliation", params=params)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise _fail(f"cannot read the reconciliation: {exc}") from None
    report = response.json()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    if not report["rows"]:
        typer.echo(
            f"no imported bill covers {report['start']} to {report['end']}: "
            "spendscope bills pull|import first"
        )
        return
    console = Console(width=200)
    models = Table(title=f"Bill vs spans, {report['start']} to {report['end']} (USD)")
    for column in ("provider", "model", "days", "billed", "spendscope", "gap", "share", "cause"):
        models.add_column(column)
    for m in report["models"]:
        share = "-" if m["gap_share"] is None else f"{m['gap_share']:+.1%}"
        models.add_row(
            m["provider"], m["model"], str(m["days"]), _usd(m["billed_usd"]), _usd(m["span_usd"]),
            _usd(m["gap_usd"]), share, ("! " if m["firing"] else "") + m["cause"],
        )  # fmt: skip
    console.print(models)
    days = Table(title="Per day (largest gaps first)")
    for column in ("day", "provider", "model", "billed", "spendscope", "gap", "why"):
        days.add_column(column)
    for r in report["rows"]:
        if r["cause"] != "matched":
            days.add_row(
                r["day"], r["provider"], r["model"], _usd(r["billed_usd"]), _usd(r["span_usd"]),
                _usd(r["gap_usd"]), r["explanation"],
            )  # fmt: skip
    console.print(days)
