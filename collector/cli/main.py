"""The `spendscope` command line: serve, migrate, demo, jobs, prices, bills, gate, forecast,
project."""

from __future__ import annotations

import logging
import signal
import socket
import uuid
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
import uvicorn
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from pydantic import ValidationError

from collector.cli.bills import bills_cli
from collector.cli.budget import budget_cli
from collector.cli.export import export_cli
from collector.cli.gate import gate_cli
from collector.cli.options import print_version, setting_option
from collector.cli.planning import forecast_command, project_command
from collector.cli.ports import Port, bind, busy
from collector.cli.prices import check_price_file, prices_cli
from collector.cli.savings import savings_cli
from collector.logging_setup import configure_logging
from collector.service import create_app
from collector.settings import INSTANCE_HEADER, Settings, SettingsError
from dashboard.settings import DashboardSettings
from warehouse.config.detection_file import DetectionFileError
from warehouse.config.detection_file import load as load_detection_file
from warehouse.config.price_file import PriceFileError
from warehouse.store import migrate
from warehouse.store.database import Database, DatabaseInUse, DataDirectoryUnusable
from warehouse.store.lake import LakeUnavailable

log = logging.getLogger(__name__)

DEMO_DATA = Path("data/demo")

cli = typer.Typer(
    help="Cost observability and attribution for AI inference, fed by OpenTelemetry.",
    no_args_is_help=True,
    add_completion=False,
)

DataDir = Annotated[Path | None, setting_option(Settings, "data_dir", text="Data directory.")]
Host = Annotated[str | None, setting_option(Settings, "host", text="Bind address.")]
HttpPort = Annotated[
    int | None, setting_option(Settings, "http_port", text="OTLP/HTTP and API port.")
]
GrpcPort = Annotated[
    int | None, setting_option(Settings, "grpc_port", text="OTLP/gRPC port, 0 disables.")
]
LogFormat = Annotated[str | None, setting_option(Settings, "log_format", text="json or text.")]
Warehouse = Annotated[
    str | None,
    setting_option(Settings, "warehouse", text="file, or ducklake:postgres:<libpq string>."),
]
LakeDataPath = Annotated[
    str | None,
    setting_option(Settings, "lake_data_path", text="The lake's shared data directory."),
]
NodeId = Annotated[
    str | None,
    setting_option(Settings, "node_id", text="This node's name (unset: <hostname>-<pid>)."),
]
DashboardUrl = Annotated[
    str | None,
    setting_option(
        Settings, "dashboard_url", text="Public dashboard URL that alerts link their incident to."
    ),
]


@cli.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=print_version
        ),
    ] = False,
) -> None:
    """Cost observability and attribution for AI inference, fed by OpenTelemetry."""


def load_settings(**overrides: Any) -> Settings:
    """Environment first, then the flags that were given on the command line. An invalid
    value exits 2 with one line per setting (never the value: it may be a token)."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        for error in exc.errors():
            name = "SPENDSCOPE_" + "_".join(str(part) for part in error["loc"]).upper()
            typer.echo(f"spendscope: invalid setting {name}: {error['msg']}", err=True)
        raise typer.Exit(2) from None


def serve_app(settings: Settings) -> None:
    try:
        settings.check_exposure()
    except SettingsError as exc:
        log.error("%s", exc)
        raise typer.Exit(2) from None
    try:
        load_detection_file(settings.data_dir)
    except DetectionFileError as exc:
        for error in exc.errors:
            log.error("%s", error)
        raise typer.Exit(2) from None
    http_socket = _listen_or_exit(settings)
    # A bad price file does not stop the service: the lifespan reports it (PriceFileStatus).
    try:
        database = open_database(settings)
    except (DatabaseInUse, DataDirectoryUnusable, LakeUnavailable) as exc:
        http_socket.close()
        log.error("%s", exc)
        raise typer.Exit(2) from None
    try:
        app = create_app(settings, database)
        instance = settings.instance_id or uuid.uuid4().hex
        log.info("instance id %s (the %s header of every response)", instance, INSTANCE_HEADER)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.http_port,
            log_config=None,
            access_log=False,
            lifespan="on",
            loop="asyncio",
            # `spendscope demo` checks that the service on its port is the one it started.
            headers=[(INSTANCE_HEADER, instance)],
        )
        # uvicorn captures SIGINT/SIGTERM, shuts down gracefully (our lifespan flushes), then
        # re-raises the signal to the handler that was installed before it. Installing a
        # no-op one here lets the process finish normally: close the database, exit 0.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _already_handled)
        uvicorn.Server(config).run(sockets=[http_socket])
    finally:
        http_socket.close()
        database.close()


def open_database(settings: Settings) -> Database:
    """The warehouse the settings name, migrated: the file, or the lake."""
    target = settings.lake
    if target is not None:
        return Database.open_lake(target, memory_limit_bytes=settings.memory_limit_bytes)
    return Database.open(settings.database_path, memory_limit_bytes=settings.memory_limit_bytes)


def _listen_or_exit(settings: Settings) -> socket.socket:
    """The HTTP port, bound now (so it cannot be taken while the service starts), after
    checking the gRPC port; one line each and exit 2 when either is taken."""
    host, env = settings.host, "SPENDSCOPE_"
    http = Port("OTLP/HTTP and API", host, settings.http_port, "--http-port", f"{env}HTTP_PORT")
    grpc = Port("OTLP/gRPC", host, settings.grpc_port, "--grpc-port", f"{env}GRPC_PORT")
    messages = busy([grpc])
    try:
        http_socket = bind(host, settings.http_port)
    except OSError as exc:
        messages.insert(0, http.busy_message(exc))
    if messages:
        for message in messages:
            log.error("%s", message)
        raise typer.Exit(2)
    return http_socket


def _already_handled(signum: int, frame: FrameType | None) -> None:
    log.debug("signal %d re-raised after a graceful shutdown", signum)


@cli.command()
def serve(
    data_dir: DataDir = None,
    host: Host = None,
    http_port: HttpPort = None,
    grpc_port: GrpcPort = None,
    log_format: LogFormat = None,
    dashboard_url: DashboardUrl = None,
    warehouse: Warehouse = None,
    lake_data_path: LakeDataPath = None,
    node_id: NodeId = None,
) -> None:
    """Receive OTLP spans, run the jobs and serve the API (migrates the database first)."""
    settings = load_settings(
        warehouse=warehouse,
        lake_data_path=lake_data_path,
        node_id=node_id,
        data_dir=data_dir,
        host=host,
        http_port=http_port,
        grpc_port=grpc_port,
        log_format=log_format,
        dashboard_url=dashboard_url,
    )
    configure_logging(settings.log_format, settings.log_level)
    serve_app(settings)


jobs_cli = typer.Typer(help="The incremental jobs (attribution, outcomes, pricing, rollups).")
cli.add_typer(jobs_cli, name="jobs")


@jobs_cli.command("run")
def jobs_run(
    name: Annotated[
        str | None, typer.Argument(help="One job; all of them in order when left out.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Catch the jobs up with everything ingested, on a stopped service's database.

    `spendscope serve` runs them every few seconds by itself; this is for a database whose
    service is stopped (DuckDB lets one process at a time open the file).
    """
    from collector.cli.catch_up import run_jobs
    from warehouse.jobs.incremental import JOBS, JobError

    settings = load_settings(data_dir=data_dir)
    configure_logging("text", settings.log_level)
    if name is not None and name not in JOBS:
        typer.echo(f"unknown job {name!r}; jobs: {', '.join(JOBS)}", err=True)
        raise typer.Exit(2)
    database = open_stopped_database(settings)
    try:
        for job_name, rows in run_jobs(database, settings, [name] if name else list(JOBS)):
            typer.echo(f"{job_name}: {rows} rows")
    except JobError as exc:
        typer.echo(f"{exc} (its watermark is kept: run it again once fixed)", err=True)
        raise typer.Exit(1) from None
    finally:
        database.close()


def open_stopped_database(settings: Settings) -> Database:
    """The database of a stopped service, its price and detection files checked; exits 2
    with one line per problem."""
    try:
        check_price_file(settings.data_dir)
        load_detection_file(settings.data_dir)
        return open_database(settings)
    except (PriceFileError, DetectionFileError) as exc:
        for error in exc.errors:
            typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    except DatabaseInUse as exc:
        typer.echo(f"{exc}; it runs the jobs itself.", err=True)
        raise typer.Exit(2) from None
    except DataDirectoryUnusable as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@jobs_cli.command("retry")
def jobs_retry(
    name: Annotated[str, typer.Argument(help="The job (see GET /api/v1/jobs).")],
    low: Annotated[int, typer.Argument(help="Where its quarantined range starts (`low`).")],
    data_dir: DataDir = None,
) -> None:
    """Run a job again on an input range it quarantined, on a stopped service's database;
    on success the range leaves the quarantine. Exit code 1 when it fails again."""
    import datetime as dt

    from warehouse.jobs.incremental import JOBS, JobError, retry_quarantined

    settings = load_settings(data_dir=data_dir)
    configure_logging("text", settings.log_level)
    if name not in JOBS:
        typer.echo(f"unknown job {name!r}; jobs: {', '.join(JOBS)}", err=True)
        raise typer.Exit(2)
    database = open_stopped_database(settings)
    try:
        cursor = database.cursor()
        try:
            rows = retry_quarantined(cursor, JOBS[name], low, dt.datetime.now(dt.UTC))
        except JobError as exc:
            typer.echo(f"{exc} (it stays quarantined)", err=True)
            raise typer.Exit(1) from None
        if rows is None:
            typer.echo(f"job {name} has no quarantined range starting at {low}", err=True)
            raise typer.Exit(2)
        typer.echo(f"{name}: {rows} rows; the range left the quarantine")
    finally:
        database.close()


@cli.command("migrate")
def migrate_command(
    data_dir: DataDir = None,
    revision: Annotated[
        str, typer.Option(help="Target revision (0001, 0002, ...); 'base' empties.")
    ] = "head",
) -> None:
    """Upgrade (or downgrade) the warehouse schema."""
    settings = load_settings(data_dir=data_dir)
    scripts = ScriptDirectory.from_config(migrate.alembic_config(settings.database_path))
    try:
        scripts.get_revisions(revision)
    except CommandError as exc:
        known = ", ".join(["base", *reversed([s.revision for s in scripts.walk_revisions()])])
        typer.echo(f"spendscope migrate: {exc}; revisions: {known}, head", err=True)
        raise typer.Exit(2) from None
    configure_logging("text", settings.log_level)
    try:
        if revision == "head":
            migrate.upgrade(settings.database_path)
        else:
            migrate.downgrade(settings.database_path, revision)
    except CommandError as exc:  # e.g. a downgrade to a revision above the database's
        typer.echo(f"spendscope migrate: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{settings.database_path}: at revision {revision}")


@cli.command()
def demo(
    data_dir: Annotated[
        Path | None,
        setting_option(Settings, "data_dir", text="Data directory.", default=str(DEMO_DATA)),
    ] = None,
    http_port: HttpPort = None,
    grpc_port: GrpcPort = None,
    dashboard_port: Annotated[
        int | None,
        setting_option(DashboardSettings, "dashboard_port", text="Dashboard port."),
    ] = None,
    days: Annotated[float, typer.Option(help="Days of sample history to backfill.")] = 28.0,
    seed: Annotated[int, typer.Option(help="Seed of the sample traffic.")] = 7,
    rate: Annotated[
        float, typer.Option(help="Live sample sessions per minute after the backfill; 0: none.")
    ] = 30.0,
    auth: Annotated[
        bool, typer.Option(help="Turn API and ingest tokens on (generated unless set).")
    ] = False,
) -> None:
    """The service, weeks of sample history, a live trickle and the dashboard; Ctrl-C stops
    them all."""
    from sample_data.demo import DemoOptions, run_demo

    settings = load_settings(
        data_dir=data_dir or DEMO_DATA,
        http_port=http_port,
        grpc_port=grpc_port,
        log_format="text",
    )
    configure_logging(settings.log_format, settings.log_level)
    port = dashboard_port or DashboardSettings().dashboard_port
    options = DemoOptions(
        days=days, seed=seed, sessions_per_minute=rate, dashboard_port=port, auth=auth
    )
    raise typer.Exit(run_demo(settings, options))


@cli.command("dashboard")
def dashboard_command(
    api_url: Annotated[
        str | None, setting_option(DashboardSettings, "api_url", text="The API to read.")
    ] = None,
    dashboard_host: Annotated[
        str | None,
        setting_option(DashboardSettings, "dashboard_host", "--host", text="Bind address."),
    ] = None,
    dashboard_port: Annotated[
        int | None, setting_option(DashboardSettings, "dashboard_port", "--port", text="Port.")
    ] = None,
) -> None:
    """Serve the dashboard (Streamlit), which reads the API of a running `spendscope serve`.

    Set SPENDSCOPE_API_TOKEN when the API needs a token.
    """
    import os

    from dashboard.launch import streamlit_command

    given: dict[str, Any] = {
        "api_url": api_url,
        "dashboard_host": dashboard_host,
        "dashboard_port": dashboard_port,
    }
    settings = DashboardSettings(**{k: v for k, v in given.items() if v is not None})
    argv, env = streamlit_command(settings)
    typer.echo(f"dashboard on http://{settings.dashboard_host}:{settings.dashboard_port}", err=True)
    os.execvpe(argv[0], argv, env)  # Streamlit takes over this process (and its signals)


cli.add_typer(prices_cli, name="prices")
cli.add_typer(bills_cli, name="bills")
cli.add_typer(export_cli, name="export")
cli.add_typer(gate_cli, name="gate")
cli.add_typer(savings_cli, name="savings")
cli.add_typer(budget_cli, name="budget")
cli.command("forecast")(forecast_command)
cli.command("project")(project_command)


def main() -> None:
    cli()
