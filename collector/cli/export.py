"""`spendscope export focus`: the priced calls as a FOCUS 1.2 file, from the running service.

The serving process owns the database, so the command reads `GET /api/v1/export/focus`. A
long window is fetched a slice at a time (`--slice-days`, whole days), with a progress bar,
and the slices are joined into one file: one CSV header, or one Parquet table.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Annotated, Literal

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from collector.cli.client import Token, Url, service_client
from collector.cli.options import option_help
from warehouse.export.focus import aligned

export_cli = typer.Typer(help="Export the priced calls in standard formats (FOCUS).")

DEFAULT_DAYS = 30


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def slices(
    start: dt.datetime, end: dt.datetime, days: int
) -> list[tuple[dt.datetime, dt.datetime]]:
    """[start, end) cut into consecutive slices of at most `days` days."""
    step = dt.timedelta(days=days)
    cuts = []
    while start < end:
        cuts.append((start, min(start + step, end)))
        start += step
    return cuts


def _fetch(client: httpx.Client, params: dict[str, object]) -> httpx.Response:
    try:
        response = client.get("/api/v1/export/focus", params=params)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach the service: {exc}") from None
    if response.status_code >= 400:
        raise _fail(f"the service answered {response.status_code}: {response.text[:300]}")
    return response


@export_cli.command("focus")
def focus_command(
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help=option_help("The file to write (replaced if it exists).", "none: required"),
            show_default=False,
        ),
    ],
    start: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
            help=option_help("First day (UTC), YYYY-MM-DD.", f"{DEFAULT_DAYS} days before --end"),
            show_default=False,
        ),
    ] = None,
    end: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
            help=option_help("End (UTC, exclusive), YYYY-MM-DD.", "now"),
            show_default=False,
        ),
    ] = None,
    file_format: Annotated[
        Literal["csv", "parquet"], typer.Option("--format", help="csv or parquet.")
    ] = "csv",
    grain: Annotated[
        Literal["day", "hour"], typer.Option(help="The charge period of a row.")
    ] = "day",
    by: Annotated[
        list[str] | None,
        typer.Option(
            help=option_help(
                "Split rows by feature, tenant and/or environment (repeat).", "feature, tenant"
            ),
            show_default=False,
        ),
    ] = None,
    slice_days: Annotated[
        int, typer.Option(min=1, help="Days fetched per request (the progress steps).")
    ] = 7,
    url: Url = None,
    token: Token = None,
) -> None:
    """Write the priced calls of [--start, --end) as a FOCUS 1.2 file: tokens as the
    consumed quantity, a SkuPriceId per model x token direction x cache action, list and
    effective cost, x_ columns (docs/focus.md)."""
    stop = _utc(end) if end else dt.datetime.now(dt.UTC)
    begin = _utc(start) if start else stop - dt.timedelta(days=DEFAULT_DAYS)
    if stop <= begin:
        raise _fail("--end must be after --start")
    # Whole days (hours), as the API widens each request: the slices meet on whole
    # periods, so no period is in two of them.
    begin, stop = (edge.replace(tzinfo=dt.UTC) for edge in aligned(begin, stop, grain))
    params: dict[str, object] = {"format": file_format, "grain": grain, "by": by or []}
    with service_client(url, token, timeout=300.0) as client:
        rows, left_out = _export(client, slices(begin, stop, slice_days), params, output)
    window = f"{begin:%Y-%m-%d %H:%M} to {stop:%Y-%m-%d %H:%M} UTC"
    typer.echo(f"{output}: {rows} FOCUS 1.2 row(s), {window}")
    if left_out:
        typer.echo(
            f"{left_out} unpriced call(s) without a reported cost are not in the file "
            "(no cost to state): price their models to include them.",
            err=True,
        )


def _export(
    client: httpx.Client,
    cuts: list[tuple[dt.datetime, dt.datetime]],
    params: dict[str, object],
    output: Path,
) -> tuple[int, int]:
    """Fetch each slice (a progress bar), join them into `output`: one CSV header, or one
    Parquet table. Returns the rows written and the calls the service left out."""
    csv_parts: list[bytes] = []
    tables: list[pa.Table] = []
    rows = left_out = 0
    with _progress() as progress:
        task = progress.add_task("FOCUS export", total=len(cuts))
        for low, high in cuts:
            response = _fetch(client, params | {"start": low.isoformat(), "end": high.isoformat()})
            rows += int(response.headers.get("X-Spendscope-Rows", 0))
            left_out += int(response.headers.get("X-Spendscope-Left-Out-Calls", 0))
            if params["format"] == "csv":
                body = response.content
                csv_parts.append(body if not csv_parts else body.split(b"\n", 1)[1])
            else:
                tables.append(pq.read_table(io.BytesIO(response.content)))
            progress.advance(task)
    if params["format"] == "csv":
        output.write_bytes(b"".join(csv_parts))
    else:
        pq.write_table(pa.concat_tables(tables), output)
    return rows, left_out


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} slices"),
        TimeRemainingColumn(),
        transient=True,
    )
