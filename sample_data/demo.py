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
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from collector.cli.ports import Port, busy
from collector.settings import INSTANCE_HEADER, Settings
from sample_data import backfill_state
from sample_data.alert_sink import AlertSink
from sample_data.backfill_state import BackfillState
from sample_data.demo_bill import import_demo_bills
from sample_data.product import NEGOTIATED_PRICE, VALUE_UNITS, VLLM_GPU_PRICE
from sample_data.sender import SampleSender
from sample_data.stack import Child, ChildFailed, NotOurs, check_identity

# The sample product's budgets, written to `<data dir>/detection.toml` when there is none
# (docs/anomalies.md): the month as a whole and the largest tenant stay within theirs, search
# overruns its daily budget once the live spike comes, and from then on the budget check
# (`[budget_check]`, docs/budgets.md) denies search's calls for the rest of the day.
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

# The budget check before a model call (docs/budgets.md): `spendscope budget check`.
[budget_check]
session_usd = "2"
enforce = ["search-daily", "acme-monthly"]
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
    """Runs until Ctrl-C or SIGTERM; returns the exit code (1 when a part failed, 2 when a
    port it needs is taken)."""
    return Demo(settings, options, console or Console()).run()


def demo_ports(settings: Settings, options: DemoOptions) -> list[Port]:
    """The ports the demo's children listen on, and the flags that change them."""
    host = settings.host
    return [
        Port("OTLP/HTTP and API", host, settings.http_port, "--http-port", "SPENDSCOPE_HTTP_PORT"),
        Port("OTLP/gRPC", host, settings.grpc_port, "--grpc-port", "SPENDSCOPE_GRPC_PORT"),
        Port("dashboard", "127.0.0.1", options.dashboard_port, "--dashboard-port"),
    ]


class Demo:
    """One run of the demo: its children, the sample traffic, and where to look."""

    def __init__(self, settings: Settings, options: DemoOptions, console: Console) -> None:
        self.settings = settings
        self.options = options
        self.console = console
        self.api_token = settings.api_tokens[0] if settings.api_tokens else None
        self.ingest_token = settings.ingest_tokens[0] if settings.ingest_tokens else None
        if options.auth:
            self.api_token = self.api_token or secrets.token_urlsafe(18)
            self.ingest_token = self.ingest_token or secrets.token_urlsafe(18)
        # The service sends it back on every response: the demo talks to no other process.
        self.instance = f"demo-{uuid.uuid4().hex}"
        self.host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        self.base_url = f"http://{self.host}:{settings.http_port}"
        self.dashboard_url = f"http://127.0.0.1:{options.dashboard_port}"
        self.sink = AlertSink(settings.data_dir / "alerts.jsonl")
        self.sender: SampleSender | None = None
        env = self._child_env()
        self.server = Child(
            "service",
            [sys.executable, "-m", "collector", "serve"],
            env,
            settings.data_dir / "service.log",
        )
        dashboard = ["dashboard", "--api-url", self.base_url, "--port", str(options.dashboard_port)]
        self.dashboard = Child(
            "dashboard",
            [sys.executable, "-m", "collector", *dashboard],
            env,
            settings.data_dir / "dashboard.log",
        )

    def _child_env(self) -> dict[str, str]:
        settings = self.settings
        value_units = settings.value_units or VALUE_UNITS
        env = {
            **os.environ,
            "SPENDSCOPE_ALERT_WEBHOOK_URL": self.sink.url,
            "SPENDSCOPE_DATA_DIR": str(settings.data_dir),
            "SPENDSCOPE_HOST": settings.host,
            "SPENDSCOPE_HTTP_PORT": str(settings.http_port),
            "SPENDSCOPE_GRPC_PORT": str(settings.grpc_port),
            "SPENDSCOPE_VALUE_UNITS": ",".join(f"{k}={v}" for k, v in value_units.items()),
            "SPENDSCOPE_LOG_FORMAT": "text",
            "SPENDSCOPE_INSTANCE_ID": self.instance,
            # Alerts link their incident on the dashboard this demo starts.
            "SPENDSCOPE_DASHBOARD_URL": settings.dashboard_url or self.dashboard_url,
        }
        if self.api_token:
            env["SPENDSCOPE_API_TOKENS"] = ",".join(settings.api_tokens or [self.api_token])
            env["SPENDSCOPE_API_TOKEN"] = self.api_token  # what the dashboard sends
        if self.ingest_token:
            tokens = settings.ingest_tokens or [self.ingest_token]
            env["SPENDSCOPE_INGEST_TOKENS"] = ",".join(tokens)
        return env

    def run(self) -> int:
        taken = busy(demo_ports(self.settings, self.options))
        if taken:  # before anything starts: no other process's data gets the sample traffic
            for message in taken:
                self.console.print(f"[red]spendscope demo: {escape(message)}[/red]")
            return 2
        detection = self.settings.data_dir / "detection.toml"
        if not detection.exists():
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            detection.write_text(DETECTION_FILE)
        # Explicit handlers: a shell starts background jobs with SIGINT ignored, and Python
        # then never turns it into KeyboardInterrupt.
        previous = {
            sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        logging.getLogger("httpx").setLevel(logging.WARNING)
        exit_code = 0
        try:
            self._start()
            self._populate()
            if self.options.sessions_per_minute > 0:
                rate = self.options.sessions_per_minute
                self.console.print(f"sending {rate:g} live sessions a minute")
            assert self.sender is not None
            self.sender.trickle(threading.Event(), self.options.sessions_per_minute)
        except KeyboardInterrupt:
            self.console.print("\nstopping...")
        except NotOurs as exc:
            self.console.print(
                f"[red]spendscope demo failed: {escape(str(exc))}; stop it or choose another "
                "port with --http-port[/red]"
            )
            exit_code = 1
        except (ChildFailed, TimeoutError, httpx.HTTPError) as exc:
            self.console.print(f"[red]spendscope demo failed: {escape(str(exc))}[/red]")
            exit_code = 1
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._stop()
        return exit_code

    def _start(self) -> None:
        self.sink.start()
        self.server.start()
        self.dashboard.start()
        self.console.print(
            f"spendscope: service starting on {self.base_url} (log: {self.server.log_path}), "
            f"dashboard on {self.dashboard_url} (log: {self.dashboard.log_path})"
        )
        identity = (INSTANCE_HEADER, self.instance)
        self.server.wait_answering(f"{self.base_url}/readyz", timeout=90, identity=identity)

    def _populate(self) -> None:
        """The history (unless the data directory has it), the live incidents, the URLs."""
        identity = (INSTANCE_HEADER, self.instance)

        def ours(response: httpx.Response) -> None:
            check_identity(response, identity, "the service this demo started")

        http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.api_token}"} if self.api_token else {},
            timeout=30,
            event_hooks={"response": [ours]},
        )
        data_dir = self.settings.data_dir
        history = http.get("/api/v1/costs").raise_for_status().json()["totals"]["calls"]
        state = backfill_state.load(data_dir)
        if state is not None and not state.complete:
            self.console.print(
                f"[yellow]The backfill of an earlier start was interrupted after "
                f"{state.describe()}: sending it again (what was stored already is not "
                "stored twice).[/yellow]"
            )
        elif history:
            state = None
            self.console.print(
                f"[yellow]{data_dir} already holds {history:,} model calls: no "
                "backfill (delete that directory for a fresh history).[/yellow]"
            )
        else:
            state = BackfillState.new(self.options.days, self.options.seed)
        seed = state.seed if state else self.options.seed
        self.sender = SampleSender(self.base_url, token=self.ingest_token, seed=seed)
        if state is not None:
            _backfill(self.console, self.sender, http, state, data_dir)
            lines = import_demo_bills(http, data_dir, state.days)
            self.console.print(
                f"imported a sample provider bill ({lines} lines; docs/reconciliation.md)"
            )
        self.sender.inject_incidents()
        self._ready()

    def _ready(self) -> None:
        """Once the dashboard answers: where to look, and the tokens to use with --auth."""
        try:
            self.dashboard.wait_answering(f"{self.dashboard_url}/_stcore/health", timeout=60)
        except ChildFailed as exc:
            self.console.print(f"[red]{escape(str(exc))}[/red]")
        base_url, port = self.base_url, self.settings.grpc_port
        grpc = f", {self.host}:{port} (gRPC)" if port else ""
        lines = [
            f"Dashboard  {self.dashboard_url}",
            f"API        {base_url}/api/v1/costs  (OpenAPI: {base_url}/docs)",
            f"OTLP       {base_url} (HTTP){grpc}",
            f"Alerts     webhook {self.sink.url}, kept in {self.sink.path}",
        ]
        if self.api_token:
            lines.append(f"API token  {self.api_token}  (the API: Authorization: Bearer <token>)")
        if self.ingest_token:
            lines.append(
                f"Ingest token  {self.ingest_token}  (OTLP spans and metrics: "
                "OTEL_EXPORTER_OTLP_HEADERS='Authorization=Bearer <token>')"
            )
        lines.append("Ctrl-C stops everything.")
        text = escape("\n".join(lines))
        self.console.print(Panel(text, title="spendscope demo is ready"))

    def _stop(self) -> None:
        if self.sender is not None:
            try:
                self.sender.close()
            except Exception as exc:  # the service may be gone already: still stop the rest
                message = escape(f"could not flush the last sample spans: {exc}")
                self.console.print(f"[yellow]{message}[/yellow]")
        for child in (self.dashboard, self.server):
            code = child.stop()
            if code not in (None, 0, -signal.SIGTERM):
                self.console.print(f"[yellow]{child.name} exited with {code}[/yellow]")
        self.sink.stop()
        self.console.print("spendscope demo stopped.")


def configure_prices(http: httpx.Client, start: dt.datetime) -> None:
    """The sample product's own prices, from the day `start` falls in: the negotiated rate
    (an override) and the GPU-hour price of the vLLM deployment, the self-hosted calls'
    only price (GPU allocation charges them their share; docs/gpu.md). A price added by an
    earlier (interrupted) start is not added again."""
    since = start.replace(hour=0, minute=0, second=0, microsecond=0).isoformat()
    overrides = http.get("/api/v1/prices").raise_for_status().json()["overrides"]
    gpu_prices = http.get("/api/v1/gpu/prices").raise_for_status().json()
    for path, price, present in (
        ("/prices", NEGOTIATED_PRICE, overrides),
        ("/gpu/prices", VLLM_GPU_PRICE, gpu_prices),
    ):
        if not any(row["source"] == "api" and row["note"] == price["note"] for row in present):
            body = {**price, "effective_from": since}
            http.post(f"/api/v1{path}", json=body).raise_for_status()


def _backfill(
    console: Console,
    sender: SampleSender,
    http: httpx.Client,
    state: BackfillState,
    data_dir: Path,
) -> None:
    """Sends the backfill of `state`, recording its progress in the data directory."""
    backfill_state.save(data_dir, state)
    configure_prices(http, state.start_at)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(
            f"backfilling {state.days:g} days", total=None, unit="sessions, 0 spans"
        )
        gpu = progress.add_task("GPU metrics", total=None, unit="scrapes", visible=False)

        plan = {"sessions": 0}

        def advance(done: int, total: int) -> None:
            plan["sessions"] = total
            if done % 50 == 0 or done == total:
                unit = f"sessions, {sender.processor.exported:,} spans"
                progress.update(task, completed=done, total=total, unit=unit)
            if done % 500 == 0:  # generated; the last few may still wait for their export
                backfill_state.save(data_dir, state.progressed(done, total))

        def advance_gpu(done: int, total: int) -> None:
            progress.update(gpu, completed=done, total=total, visible=True)

        summary = sender.backfill(
            state.days, end=state.end_at, progress=advance, gpu_progress=advance_gpu
        )
        progress.update(task, unit=f"sessions, {sender.processor.exported:,} spans")
    sessions = plan["sessions"]
    backfill_state.save(data_dir, state.progressed(sessions, sessions, complete=True))
    console.print(
        f"sent {summary.traces:,} traces with {summary.model_calls:,} model calls, "
        f"{summary.outcomes:,} outcomes in the spans and {sender.posted_outcomes:,} reported "
        "late through the API"
    )
    with console.status("pricing and rolling up..."):
        wait_jobs(http)
