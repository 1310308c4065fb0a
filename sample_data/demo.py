"""`spendscope demo`: the service, weeks of sample history, a live trickle and the dashboard.

The service and the dashboard run as child processes (`sample_data.stack`); this process
sends the sample product's traffic and GPU metrics over OTLP/HTTP, shows the backfill's
progress, injects live incidents for the detectors, receives the alerts they raise on a
loopback webhook (`sample_data.alert_sink`), prints where to look, and stops everything on
Ctrl-C (or SIGTERM).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import signal
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType

import httpx
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from collector.settings import Settings
from sample_data.alert_sink import AlertSink
from sample_data.demo_bill import import_demo_bills
from sample_data.product import NEGOTIATED_PRICE, VALUE_UNITS, VLLM_GPU_PRICE
from sample_data.sender import SampleSender
from sample_data.stack import Child, ChildFailed

# The sample product's budgets, written to `<data dir>/detection.toml` when there is none
# (docs/anomalies.md): the month as a whole and the largest tenant stay within theirs, search
# overruns its daily budget once the live spike comes.
DETECTION_FILE = """\
# Written by `spendscope demo`: the sample product's budgets (docs/anomalies.md).
[[budgets]]
name = "monthly-total"
scope = "total"
period = "month"
amount_usd = "1500"

[[budgets]]
name = "acme-monthly"
scope = "tenant"
value = "acme"
period = "month"
amount_usd = "500"

[[budgets]]
name = "search-daily"
scope = "feature"
value = "search"
period = "day"
amount_usd = "10"
"""


@dataclass(frozen=True)
class DemoOptions:
    days: float = 28.0
    seed: int = 7
    sessions_per_minute: float = 30.0
    dashboard_port: int = 8501
    auth: bool = False


def wait_jobs(http: httpx.Client, timeout: float = 180.0) -> None:
    """Until the jobs have priced and rolled up everything sent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = http.get("/api/v1/jobs").raise_for_status().json()["jobs"]
        if jobs and all(job["watermark"] >= job["input_high"] for job in jobs):
            return
        time.sleep(0.5)
    raise TimeoutError("the jobs did not catch up; see the service's log")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_demo(settings: Settings, options: DemoOptions, console: Console | None = None) -> int:
    """Runs until Ctrl-C or SIGTERM; returns the exit code (1 when a part failed)."""
    console = console or Console()
    exit_code = 0
    api_token = settings.api_tokens[0] if settings.api_tokens else None
    ingest_token = settings.ingest_tokens[0] if settings.ingest_tokens else None
    if options.auth:
        api_token = api_token or secrets.token_urlsafe(18)
        ingest_token = ingest_token or secrets.token_urlsafe(18)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    base_url = f"http://{host}:{settings.http_port}"
    dashboard_url = f"http://127.0.0.1:{options.dashboard_port}"
    value_units = settings.value_units or VALUE_UNITS
    detection = settings.data_dir / "detection.toml"
    if not detection.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        detection.write_text(DETECTION_FILE)
    sink = AlertSink(settings.data_dir / "alerts.jsonl")
    env = {
        **os.environ,
        "SPENDSCOPE_ALERT_WEBHOOK_URL": sink.url,
        "SPENDSCOPE_DATA_DIR": str(settings.data_dir),
        "SPENDSCOPE_HOST": settings.host,
        "SPENDSCOPE_HTTP_PORT": str(settings.http_port),
        "SPENDSCOPE_GRPC_PORT": str(settings.grpc_port),
        "SPENDSCOPE_VALUE_UNITS": ",".join(f"{k}={v}" for k, v in value_units.items()),
        "SPENDSCOPE_LOG_FORMAT": "text",
    }
    if api_token:
        env["SPENDSCOPE_API_TOKENS"] = ",".join(settings.api_tokens or [api_token])
        env["SPENDSCOPE_API_TOKEN"] = api_token  # what the dashboard sends
    if ingest_token:
        env["SPENDSCOPE_INGEST_TOKENS"] = ",".join(settings.ingest_tokens or [ingest_token])
    server = Child(
        "service",
        [sys.executable, "-m", "collector", "serve"],
        env,
        settings.data_dir / "service.log",
    )
    dashboard = Child(
        "dashboard",
        [
            sys.executable,
            "-m",
            "collector",
            "dashboard",
            "--api-url",
            base_url,
            "--port",
            str(options.dashboard_port),
        ],
        env,
        settings.data_dir / "dashboard.log",
    )
    # Explicit handlers: a shell starts background jobs with SIGINT ignored, and Python
    # then never turns it into KeyboardInterrupt.
    previous = {
        sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    logging.getLogger("httpx").setLevel(logging.WARNING)
    sender: SampleSender | None = None
    try:
        sink.start()
        server.start()
        dashboard.start()
        console.print(
            f"spendscope: service starting on {base_url} (log: {server.log_path}), "
            f"dashboard on {dashboard_url} (log: {dashboard.log_path})"
        )
        server.wait_answering(f"{base_url}/readyz", timeout=90)
        sender = SampleSender(base_url, token=ingest_token, seed=options.seed)
        http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_token}"} if api_token else {},
            timeout=30,
        )
        history = http.get("/api/v1/costs").raise_for_status().json()["totals"]["calls"]
        if history:
            console.print(
                f"[yellow]{settings.data_dir} already holds {history:,} model calls: no "
                "backfill (delete that directory for a fresh history).[/yellow]"
            )
        else:
            _backfill(console, sender, http, options)
            lines = import_demo_bills(http, settings.data_dir, options.days)
            console.print(
                f"imported a sample provider bill ({lines} lines; docs/reconciliation.md)"
            )
        sender.inject_incidents()
        grpc = f"{host}:{settings.grpc_port}" if settings.grpc_port else None
        _ready(console, base_url, grpc, dashboard_url, api_token, dashboard, sink)
        if options.sessions_per_minute > 0:
            console.print(f"sending {options.sessions_per_minute:g} live sessions a minute")
        stop = threading.Event()
        sender.trickle(stop, options.sessions_per_minute)
    except KeyboardInterrupt:
        console.print("\nstopping...")
    except (ChildFailed, TimeoutError, httpx.HTTPError) as exc:
        console.print(f"[red]spendscope demo failed: {exc}[/red]")
        exit_code = 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if sender is not None:
            try:
                sender.close()
            except Exception as exc:  # the service may be gone already: still stop the rest
                console.print(f"[yellow]could not flush the last sample spans: {exc}[/yellow]")
        for child in (dashboard, server):
            code = child.stop()
            if code not in (None, 0, -signal.SIGTERM):
                console.print(f"[yellow]{child.name} exited with {code}[/yellow]")
        sink.stop()
        console.print("spendscope demo stopped.")
    return exit_code


def configure_prices(http: httpx.Client, start: dt.datetime) -> None:
    """The sample product's own prices, from the day `start` falls in: the negotiated rate
    (an override) and the GPU-hour price of the vLLM deployment, the self-hosted calls'
    only price (GPU allocation charges them their share; docs/gpu.md)."""
    since = start.replace(hour=0, minute=0, second=0, microsecond=0).isoformat()
    for path, price in (("/prices", NEGOTIATED_PRICE), ("/gpu/prices", VLLM_GPU_PRICE)):
        http.post(f"/api/v1{path}", json={**price, "effective_from": since}).raise_for_status()


def _backfill(
    console: Console, sender: SampleSender, http: httpx.Client, options: DemoOptions
) -> None:
    configure_prices(http, dt.datetime.now(dt.UTC) - dt.timedelta(days=options.days))
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(
            f"backfilling {options.days:g} days", total=None, unit="sessions, 0 spans"
        )
        gpu = progress.add_task("GPU metrics", total=None, unit="scrapes", visible=False)

        def advance(done: int, total: int) -> None:
            if done % 50 == 0 or done == total:
                unit = f"sessions, {sender.processor.exported:,} spans"
                progress.update(task, completed=done, total=total, unit=unit)

        def advance_gpu(done: int, total: int) -> None:
            progress.update(gpu, completed=done, total=total, visible=True)

        summary = sender.backfill(options.days, progress=advance, gpu_progress=advance_gpu)
        progress.update(task, unit=f"sessions, {sender.processor.exported:,} spans")
    console.print(
        f"sent {summary.traces:,} traces with {summary.model_calls:,} model calls, "
        f"{summary.outcomes:,} outcomes in the spans and {sender.posted_outcomes:,} reported "
        "late through the API"
    )
    with console.status("pricing and rolling up..."):
        wait_jobs(http)


def _ready(
    console: Console,
    base_url: str,
    grpc: str | None,
    dashboard_url: str,
    token: str | None,
    dashboard: Child,
    sink: AlertSink,
) -> None:
    try:
        dashboard.wait_answering(f"{dashboard_url}/_stcore/health", timeout=60)
    except ChildFailed as exc:
        console.print(f"[red]{exc}[/red]")
    lines = [
        f"Dashboard  {dashboard_url}",
        f"API        {base_url}/api/v1/costs  (OpenAPI: {base_url}/docs)",
        f"OTLP       {base_url} (HTTP)" + (f", {grpc} (gRPC)" if grpc else ""),
        f"Alerts     webhook {sink.url}, kept in {sink.path}",
    ]
    if token:
        lines.append(f"API token  {token}  (send: Authorization: Bearer <token>)")
    lines.append("Ctrl-C stops everything.")
    console.print(Panel("\n".join(lines), title="spendscope demo is ready"))
