"""`spendscope forecast` and `spendscope project`: the month-end forecast and the projections
at 1x, 10x, 100x, read from the running service (`GET /api/v1/forecast`, `/projections`).

The serving process owns the database, so both go through the HTTP API. Exit codes: 0, 1
when the service cannot be reached or refuses the request (its reason printed), 2 for bad
options.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from collector.cli.client import Token, Url, service_client
from collector.cli.options import option_help

AsJson = Annotated[
    bool, typer.Option("--json", help=option_help("Print the API's JSON.", "a table"))
]
At = Annotated[
    dt.datetime | None,
    typer.Option(
        formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"],
        help=option_help("Make it as at this UTC time (ISO 8601, or a day).", "now"),
        show_default=False,
    ),
]


def _filter(text: str) -> Any:
    return typer.Option(help=option_help(text, "all of it"), show_default=False)


def _get(url: str | None, token: str | None, path: str, params: Any) -> dict[str, Any]:
    """The API's answer; exits 1 with its reason when it cannot be had."""
    with service_client(url, token) as client:
        try:
            response = client.get(path, params=params)
        except httpx.HTTPError as exc:
            typer.echo(f"cannot reach the service at {client.base_url}: {exc}", err=True)
            raise typer.Exit(1) from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text[:300]
        if isinstance(detail, list):  # FastAPI's list of invalid parameters
            detail = "; ".join(f"{e.get('loc', ['?'])[-1]}: {e.get('msg')}" for e in detail)
        typer.echo(f"the service answered {response.status_code}: {detail}", err=True)
        raise typer.Exit(1)
    body: dict[str, Any] = response.json()
    return body


def _usd(value: str | None) -> str:
    return "n/a" if value is None else f"${Decimal(value):,.2f}"


def _at(at: dt.datetime | None) -> dict[str, str]:
    if at is None:
        return {}
    return {"at": (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).isoformat()}


def forecast_command(
    feature: Annotated[str | None, _filter("Only this feature's spend.")] = None,
    tenant: Annotated[str | None, _filter("Only this tenant's spend.")] = None,
    environment: Annotated[str | None, _filter("Only this environment's spend.")] = None,
    model: Annotated[str | None, _filter("Only this model's spend.")] = None,
    at: At = None,
    as_json: AsJson = False,
    url: Url = None,
    token: Token = None,
) -> None:
    """The month-end forecast with its 80% prediction interval (docs/forecast.md)."""
    given = {"feature": feature, "tenant": tenant, "environment": environment, "model": model}
    params = {name: value for name, value in given.items() if value is not None} | _at(at)
    body = _get(url, token, "/api/v1/forecast", params)
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    what = ", ".join(f"{k} {v}" for k, v in body["filters"].items()) or "all spend"
    month = body["month_start"][:7]
    typer.echo(f"{month}, {what}: {_usd(body['month_to_date_usd'])} so far.")
    if body["forecast_usd"] is None:
        typer.echo("No forecast yet: it needs a complete day of history.")
        return
    typer.echo(
        f"Month-end forecast {_usd(body['forecast_usd'])} "
        f"(80% interval {_usd(body['low_usd'])} to {_usd(body['high_usd'])}), "
        f"from {body['history_days']} complete day(s)."
    )


def project_command(
    multiplier: Annotated[
        float,
        typer.Option(
            min=0.000001,
            max=1_000_000,
            help=option_help("Traffic as a multiple of today's.", "10"),
            show_default=False,
        ),
    ] = 10.0,
    swap: Annotated[
        list[str] | None,
        typer.Option(
            help=option_help(
                "MODEL_A:MODEL_B:SHARE: move SHARE (0-1] of model A's calls to model B "
                "(repeatable).",
                "none",
            ),
            show_default=False,
        ),
    ] = None,
    environment: Annotated[str | None, _filter("Only this environment's traffic.")] = None,
    tenant: Annotated[str | None, _filter("Only this tenant's traffic.")] = None,
    reference: Annotated[
        str,
        typer.Option(
            help=option_help(
                "provider/model the self-hosted tokens are priced at.", "openai/gpt-4o-mini"
            ),
            show_default=False,
        ),
    ] = "openai/gpt-4o-mini",
    at: At = None,
    as_json: AsJson = False,
    url: Url = None,
    token: Token = None,
) -> None:
    """Spend at 1x, 10x, 100x and the chosen multiple of today's traffic, per feature, from
    its measured drivers; and when each self-hosted deployment breaks even
    (docs/projections.md)."""
    params: dict[str, Any] = {"multiplier": str(multiplier), "reference": reference}
    params |= {"swap": swap} if swap else {}
    params |= {"environment": environment} if environment else {}
    params |= {"tenant": tenant} if tenant else {}
    body = _get(url, token, "/api/v1/projections", params | _at(at))
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    console = Console()
    console.print(
        f"Drivers: {body['start'][:10]} to {body['end'][:10]} ({body['days']} days)"
        + (f"; swaps: {', '.join(body['swaps'])}" if body["swaps"] else "")
    )
    console.print(_features(body))
    for level in body["levels"]:
        console.print(
            f"{level['multiplier']:g}x: {_usd(level['usd_per_month'])} a month, "
            f"most of it {level['dominant_feature']}"
        )
    for deployment in body["self_hosted"] or []:
        even = deployment["break_even_multiplier"]
        console.print(
            f"Self-hosted {deployment['deployment']}: {_usd(deployment['gpu_usd_per_day'])}/day "
            f"of GPUs against {_usd(deployment['reference_usd_per_day'])}/day at "
            f"{deployment['reference']}; "
            + (f"breaks even at {even:g}x today's traffic" if even else "never breaks even")
        )


def _features(body: dict[str, Any]) -> Table:
    levels = [level["multiplier"] for level in body["levels"]]
    table = Table("feature", "per day", "calls each", "cost/call")
    for multiplier in levels:
        table.add_column(f"{multiplier:g}x /day")
    for feature in body["features"]:
        per_unit = feature["calls_per_unit"]
        table.add_row(
            feature["feature"],
            f"{feature['units_per_day']:,.1f} {feature['unit']}s",
            "n/a" if per_unit is None else f"{per_unit:,.1f}",
            "n/a" if feature["cost_per_call_usd"] is None
            else f"${Decimal(feature['cost_per_call_usd']):,.5f}",
            *[_usd(level["usd_per_day"]) for level in feature["levels"]],
        )  # fmt: skip
    return table
