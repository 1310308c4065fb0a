"""`spendscope budget check`: ask the running service's budget check (docs/budgets.md).

Exit codes: 0 allowed, 1 denied, 2 the check could not be made (service unreachable, bad
token or parameter), so a shell script or CI step can gate on it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from collector.cli.client import service_client
from collector.cli.options import option_help

budget_cli = typer.Typer(help="Budgets: ask the live budget check.")

DENIED, FAILED = 1, 2


def _text(option: str, default: str = "none") -> Any:
    return typer.Option(help=option_help(option, default), show_default=False)


@budget_cli.command("check")
def check(
    session: Annotated[str | None, _text("The session to check.")] = None,
    feature: Annotated[str | None, _text("The feature of the call.")] = None,
    tenant: Annotated[
        str | None, _text("The tenant (session ids are unique per tenant).", "the token's")
    ] = None,
    url: Annotated[
        str | None, _text("Service URL.", "from SPENDSCOPE_HOST and SPENDSCOPE_HTTP_PORT")
    ] = None,
    token: Annotated[str | None, _text("API token.", "the first of SPENDSCOPE_API_TOKENS")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help=option_help("Print the raw JSON.", "false"))
    ] = False,
) -> None:
    """Whether a model call of this session, feature and tenant may go ahead now, with the
    spend and what remains of each limit that applies. Exits 1 when denied."""
    given = {"session_id": session, "feature": feature, "tenant": tenant}
    client = service_client(url, token, timeout=10)
    try:
        with client:
            response = client.get(
                "/api/v1/budget/check", params={k: v for k, v in given.items() if v is not None}
            )
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach the budget check at {client.base_url}: {exc}", err=True)
        raise typer.Exit(FAILED) from None
    if response.status_code != 200:
        detail = response.json().get("detail") if response.content else response.reason_phrase
        typer.echo(f"budget check refused ({response.status_code}): {detail}", err=True)
        raise typer.Exit(FAILED)
    body = response.json()
    if as_json:
        typer.echo(json.dumps(body, indent=2))
    else:
        _print(Console(), body)
    if not body["allowed"]:
        raise typer.Exit(DENIED)


def _print(console: Console, body: dict[str, Any]) -> None:
    verdict = "[green]allow[/green]" if body["allowed"] else "[red]deny[/red]"
    console.print(f"{verdict}" + (f": {body['reason']}" if body["reason"] else ""))
    table = Table("scope", "value", "period", "spend", "limit", "remaining", "calls")
    for scope in body["scopes"]:
        table.add_row(
            scope["scope"], scope["value"] or "-", scope["budget"] or scope["period"],
            scope["spend_usd"] or "(other tenants)", scope["limit_usd"] or "none",
            scope["remaining_usd"] or "-", str(scope["calls"] if scope["calls"] is not None
                                               else "-"),
        )  # fmt: skip
    console.print(table)
    console.print(f"spend: {body['spend_source']} (ledger filled at {body['seeded_at']})")
