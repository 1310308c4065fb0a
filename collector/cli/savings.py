"""`spendscope savings list|what-if`: the savings opportunities in the recorded calls, and a
routing rule replayed on a feature's calls, read from the running service's API
(`GET /api/v1/savings`, `GET /api/v1/savings/what-if`; docs/savings.md). `spendscope savings`
alone lists the opportunities of the last 30 days.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from collector.cli.client import Token, Url, service_client
from collector.cli.options import option_help

savings_cli = typer.Typer(
    help="What-if savings from recorded calls: opportunities ranked, routing rules replayed.",
    invoke_without_command=True,
)

Days = Annotated[
    int,
    typer.Option(
        min=1,
        max=400,
        help=option_help("Days of recorded calls, up to now.", "30"),
        show_default=False,
    ),
]
Tenant = Annotated[
    str | None,
    typer.Option(help=option_help("Only this tenant's calls.", "every tenant"), show_default=False),
]
AsJson = Annotated[bool, typer.Option("--json", help=option_help("Print the raw JSON.", "false"))]
KINDS = ("model_swap", "prompt_caching", "batch")


def _window(days: int) -> dict[str, str]:
    end = dt.datetime.now(dt.UTC)
    return {"start": (end - dt.timedelta(days=days)).isoformat(), "end": end.isoformat()}


def _get(url: str | None, token: str | None, path: str, params: dict[str, Any]) -> Any:
    """The API's JSON; a clear line and exit 1 (unreachable) or 2 (refused) otherwise."""
    client = service_client(url, token, timeout=120.0)
    try:
        with client:
            response = client.get(path, params=params)
    except httpx.HTTPError as exc:
        typer.echo(f"cannot read {path} from {client.base_url}: {exc}", err=True)
        raise typer.Exit(1) from None
    if response.status_code != 200:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text
        typer.echo(f"{path}: {response.status_code}: {detail}", err=True)
        raise typer.Exit(2)
    return response.json()


def _interval(monthly: dict[str, Any]) -> str:
    return f"{monthly['low_usd']} - {monthly['high_usd']}"


@savings_cli.callback()
def default(context: typer.Context) -> None:
    """Without a command: the opportunities of the last 30 days (`savings list`)."""
    if context.invoked_subcommand is None:
        list_savings(url=None, token=None, days=30, tenant=None, kind=None, as_json=False)


@savings_cli.command("list")
def list_savings(
    url: Url = None,
    token: Token = None,
    days: Days = 30,
    tenant: Tenant = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            help=option_help(f"Only these kinds, repeated ({', '.join(KINDS)}).", "all"),
            show_default=False,
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Model swaps, prompt caching and batch opportunities, most dollars per month first,
    each with its monthly interval and its assumptions."""
    for name in kind or ():
        if name not in KINDS:
            typer.echo(f"--kind {name!r}: one of {', '.join(KINDS)}", err=True)
            raise typer.Exit(2)
    params: dict[str, Any] = _window(days) | ({"tenant": tenant} if tenant else {})
    if kind:
        params["kind"] = kind
    body = _get(url, token, "/api/v1/savings", params)
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    table = Table(title=f"Savings opportunities, {body['calls']:,} calls over {days} days")
    for column in ("kind", "feature", "model", "change", "USD/month", "interval", "calls"):
        table.add_column(column)
    for o in body["opportunities"]:
        saving = o["monthly_savings"]
        table.add_row(
            o["kind"],
            o["feature"] or "-",
            o["model"],
            o["change"],
            saving["usd"],
            _interval(saving),
            f"{o['calls']:,}",
        )
    console = Console()
    console.print(table)
    if not body["opportunities"]:
        console.print("No opportunity found in the recorded calls.")
    for rank, o in enumerate(body["opportunities"], start=1):
        console.print(f"\n#{rank} {o['kind']} {o['feature']} {o['model']}: {o['change']}")
        for line in o["assumptions"]:
            console.print(f"  - {line}", markup=False)
        if o["evidence_note"]:
            console.print(f"  quality: {o['evidence_note']}", markup=False)


@savings_cli.command("what-if")
def what_if(
    feature: Annotated[
        str | None,
        typer.Option(help=option_help("The feature whose calls to replay.", "every feature")),
    ] = None,
    to: Annotated[
        str, typer.Option("--to", help=option_help("The target model.", "required"))
    ] = "",
    to_provider: Annotated[
        str | None,
        typer.Option(help=option_help("The target's provider.", "the calls' provider")),
    ] = None,
    from_model: Annotated[
        str | None, typer.Option(help=option_help("Move only this model's calls.", "any model"))
    ] = None,
    max_input_tokens: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=1_000_000_000,
            help=option_help("Move only calls with fewer input tokens.", "any"),
        ),
    ] = None,
    no_tools: Annotated[
        bool,
        typer.Option("--no-tools", help=option_help("Move only calls that used no tool.", "false")),
    ] = False,
    tenant: Tenant = None,
    days: Days = 30,
    url: Url = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Replay a routing rule: the matching calls priced as the target model, the others
    kept; savings per feature per month with an interval, and the quality evidence."""
    if not to:
        typer.echo("--to MODEL is required (the model to route the calls to)", err=True)
        raise typer.Exit(2)
    optional = {
        "feature": feature,
        "tenant": tenant,
        "to_provider": to_provider,
        "from_model": from_model,
        "max_input_tokens": max_input_tokens,
    }
    params = _window(days) | {"to_model": to, "no_tools": no_tools}
    params |= {key: value for key, value in optional.items() if value is not None}
    body = _get(url, token, "/api/v1/savings/what-if", params)
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    _print_what_if(Console(), body)


def _print_what_if(console: Console, body: dict[str, Any]) -> None:
    total = body["monthly_savings"]
    console.print(f"Rule: {body['rule']}", markup=False)
    console.print(
        f"{body['moved_calls']:,} of {body['calls']:,} calls move; saving "
        f"{total['usd']} USD/month ({total['confidence']:.0%} interval {_interval(total)}, "
        f"over {total['days']} days)"
    )
    table = Table()
    for column in ("feature", "calls", "cost USD", "what-if USD", "USD/month", "interval"):
        table.add_column(column)
    for f in body["features"]:
        saving = f["monthly_savings"]
        table.add_row(
            f["feature"] or "-",
            f"{f['calls']:,}",
            f["cost_usd"],
            f["what_if_cost_usd"],
            saving["usd"],
            _interval(saving),
        )
    console.print(table)
    for f in body["features"]:
        console.print(f"quality ({f['feature']}): {f['evidence_note']}", markup=False)
    console.print("Assumptions:")
    for line in body["assumptions"]:
        console.print(f"  - {line}", markup=False)
