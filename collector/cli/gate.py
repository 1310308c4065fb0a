"""`spendscope gate record|compare`: the CI cost gate (docs/gate.md).

`record` runs a command (a test suite, an eval script) with its OTel exporter pointed at a
spendscope service of its own (a child process on a free loopback port and a temporary data
directory), stops it, catches its jobs up and writes every model call the command made,
priced and attributed exactly as production traffic is, to a run file. `compare` judges a
head run against a base run under the policy file and reports in the terminal, Markdown
(a pull-request comment) or JSON. Exit codes: 0 pass, 1 a path got costlier beyond the
policy, 2 nothing could be compared (a missing or corrupt run, an empty one, unpriced calls).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from collector.cli.catch_up import run_jobs
from collector.cli.client import service_client
from collector.cli.options import option_help
from collector.settings import Settings
from warehouse.core.errors import InvalidRequest
from warehouse.gate import report
from warehouse.gate.compare import compare_runs
from warehouse.gate.policy import DEFAULT_POLICY_FILE, Judged, Policy, judge, load_policy
from warehouse.gate.run import (
    Run,
    RunFileError,
    calls_in_windows,
    read_run,
    run_from_json,
    write_run,
)
from warehouse.jobs.incremental import JOBS, JobError
from warehouse.store.database import Database

gate_cli = typer.Typer(help="The CI cost gate: record a test run's model calls, compare two.")

# The attribute that names a critical path; it is looked up before the feature attributes.
PATH_ATTRIBUTE = "spendscope.path"
READY_SECONDS = 60.0
STOP_SECONDS = 60.0

Output = Annotated[
    Path,
    typer.Option(
        "--output", "-o", help=option_help("Run file to write.", "run.json"), show_default=False
    ),
]
Label = Annotated[
    str, typer.Option(help=option_help("A name for the run.", "ci"), show_default=False)
]
Commit = Annotated[
    str | None,
    typer.Option(
        help=option_help("Commit of the run.", "GITHUB_SHA or git HEAD"), show_default=False
    ),
]
Branch = Annotated[
    str | None,
    typer.Option(
        help=option_help("Branch of the run.", "GITHUB_HEAD_REF or git branch"), show_default=False
    ),
]
Url = Annotated[
    str | None,
    typer.Option(
        help=option_help(
            "A running spendscope: its last 30 days give each path's production cost per "
            "month (record: the run is also posted to it).",
            "none",
        ),
        show_default=False,
    ),
]
Token = Annotated[
    str | None,
    typer.Option(help=option_help("API token for --server.", "none"), show_default=False),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@gate_cli.command("record")
def record(
    command: Annotated[list[str], typer.Argument(help="The command to run, after `--`.")],
    output: Output = Path("run.json"),
    label: Label = "ci",
    repeat: Annotated[
        int,
        typer.Option(
            min=1,
            max=100,
            help=option_help("Run the command this many times (noise).", "1"),
            show_default=False,
        ),
    ] = 1,
    commit: Commit = None,
    branch: Branch = None,
    server: Url = None,
    token: Token = None,
) -> None:
    """Run COMMAND with OTEL_EXPORTER_OTLP_ENDPOINT pointed at a spendscope of its own, and
    write every model call it made, priced, with its critical path, to a run file.

    A call's path is the `spendscope.path` attribute of the call or an ancestor span, else
    its feature, else the span's name. Exits with the command's exit code when it fails
    (the run file is written all the same).
    """
    with tempfile.TemporaryDirectory(prefix="spendscope-gate-") as directory:
        data_dir = Path(directory)
        with _own_service(data_dir) as endpoint:
            windows, status = _run_command(command, endpoint, repeat)
        run = _collect(data_dir, windows, label, command, commit, branch)
    write_run(run, output)
    paths = len({call.path for call in run.calls})
    unpriced = sum(call.cost_usd is None for call in run.calls)
    typer.echo(
        f"recorded {len(run.calls)} model calls on {paths} path(s) in {repeat} run(s)"
        f"{f', {unpriced} unpriced' if unpriced else ''} -> {output}"
    )
    if not run.calls:
        typer.echo(
            "no model call arrived: is the command instrumented with OpenTelemetry and does it "
            "export with OTLP (it gets OTEL_EXPORTER_OTLP_ENDPOINT)?",
            err=True,
        )
    if server:
        _post_run(run, server, token)
    if status != 0:
        raise typer.Exit(status)


@gate_cli.command("load")
def load(
    files: Annotated[
        list[Path], typer.Argument(help="OTLP/JSON files: one export request a line.")
    ],
    output: Output = Path("run.json"),
    label: Label = "ci",
    commit: Commit = None,
    branch: Branch = None,
) -> None:
    """A run from spans a suite exported to files instead of to spendscope (the OTel
    Collector's file exporter writes one OTLP/JSON export request a line): they go through a
    spendscope of its own, priced and attributed as `record` does, as one repetition."""
    with tempfile.TemporaryDirectory(prefix="spendscope-gate-") as directory:
        data_dir = Path(directory)
        started = dt.datetime.now(dt.UTC)
        with _own_service(data_dir) as endpoint:
            for file in files:
                _send_file(file, endpoint)
        windows = [(started, dt.datetime.now(dt.UTC))]
        run = _collect(data_dir, windows, label, [f"load {file}" for file in files], commit, branch)
    write_run(run, output)
    typer.echo(f"loaded {len(run.calls)} model calls -> {output}")


def _send_file(file: Path, endpoint: str) -> None:
    """Each line of `file` to the service's /v1/traces; exits 2 naming the first bad line."""
    try:
        lines = file.read_bytes().splitlines()
    except OSError as exc:
        raise _fail(f"{file}: cannot read it ({exc.strerror})") from None
    with httpx.Client(base_url=endpoint, timeout=60) as client:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            response = client.post(
                "/v1/traces", content=line, headers={"content-type": "application/json"}
            )
            if response.status_code != 200:
                detail = response.text[:300]
                raise _fail(f"{file}:{number}: not an OTLP/JSON export request ({detail})")


@contextmanager
def _own_service(data_dir: Path) -> Iterator[str]:
    """`spendscope serve` on a free loopback port with `data_dir`, stopped (and flushed) on
    leaving; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings()
    features = [PATH_ATTRIBUTE, *[key for key in settings.feature_attributes if key]]
    env = {
        **os.environ,
        "SPENDSCOPE_DATA_DIR": str(data_dir),
        "SPENDSCOPE_HOST": "127.0.0.1",
        "SPENDSCOPE_HTTP_PORT": str(port),
        "SPENDSCOPE_GRPC_PORT": "0",
        # Loopback only, for this recording: no token is asked of the command's exporter.
        "SPENDSCOPE_INGEST_TOKENS": "",
        "SPENDSCOPE_API_TOKENS": "",
        "SPENDSCOPE_TENANT_TOKENS": "",
        "SPENDSCOPE_FEATURE_ATTRIBUTES": ",".join(dict.fromkeys(features)),
    }
    log_path = data_dir / "service.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "collector", "serve"], env=env, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, log_path)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise _fail(f"the recording's service did not stop: {_tail(log_path)}") from None
    if process.returncode not in (0, -signal.SIGTERM):
        raise _fail(f"the recording's service failed: {_tail(log_path)}")


def _wait_ready(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise _fail(f"the recording's service did not start: {_tail(log_path)}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise _fail(f"the recording's service was not ready in {READY_SECONDS:.0f} s")


def _tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-2000:]


def _run_command(
    command: list[str], endpoint: str, repeat: int
) -> tuple[list[tuple[dt.datetime, dt.datetime]], int]:
    """Run `command` `repeat` times (stopping at the first failure); the time window of each
    run and the last exit status."""
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{endpoint}/v1/traces",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
    }
    env.pop("OTEL_EXPORTER_OTLP_HEADERS", None)
    env.pop("OTEL_EXPORTER_OTLP_TRACES_HEADERS", None)
    windows = []
    status = 0
    for repetition in range(1, repeat + 1):
        start = dt.datetime.now(dt.UTC)
        try:
            status = subprocess.run(
                command, env={**env, "SPENDSCOPE_GATE_REPETITION": str(repetition)}, check=False
            ).returncode
        except OSError as exc:
            raise _fail(f"cannot run {command[0]!r}: {exc}") from None
        windows.append((start, dt.datetime.now(dt.UTC)))
        if status != 0:
            typer.echo(f"the command exited with {status} (run {repetition})", err=True)
            break
    return windows, status


def _collect(
    data_dir: Path,
    windows: list[tuple[dt.datetime, dt.datetime]],
    label: str,
    command: list[str],
    commit: str | None,
    branch: str | None,
) -> Run:
    settings = Settings(data_dir=data_dir)
    try:
        database = Database.open(
            settings.database_path, memory_limit_bytes=settings.memory_limit_bytes
        )
    except Exception as exc:  # the CLI's boundary: one line, not a traceback
        raise _fail(f"cannot open the recording's warehouse: {type(exc).__name__}: {exc}") from None
    try:
        for _ in run_jobs(database, settings, list(JOBS)):
            pass
        cursor = database.cursor()
        try:
            calls = calls_in_windows(cursor, windows)
        finally:
            cursor.close()
    except JobError as exc:
        raise _fail(f"the recording's jobs failed: {exc}") from None
    finally:
        database.close()
    return Run(
        label=label,
        commit=commit or os.environ.get("GITHUB_SHA") or _git("rev-parse", "HEAD"),
        branch=branch
        or os.environ.get("GITHUB_HEAD_REF")
        or os.environ.get("GITHUB_REF_NAME")
        or _git("rev-parse", "--abbrev-ref", "HEAD"),
        recorded_at=dt.datetime.now(dt.UTC),
        repetitions=len(windows),
        command=command,
        calls=calls,
    )


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def _post_run(run: Run, server: str, token: str | None) -> None:
    with service_client(server, token) as client:
        try:
            response = client.post("/api/v1/gate/runs", json=run.to_json())
        except httpx.HTTPError as exc:
            raise _fail(f"cannot reach {server}: {exc}") from None
    if response.status_code >= 400:
        raise _fail(f"{server} refused the run: {response.status_code} {response.text[:300]}")
    typer.echo(f"posted to {server} as run {response.json()['id']}")


@gate_cli.command("compare")
def compare(
    base: Annotated[
        str,
        typer.Option(
            help=option_help(
                "The base run: a file, or with --server branch:NAME or run:ID.", "main.json"
            ),
            show_default=False,
        ),
    ] = "main.json",
    head: Annotated[
        str,
        typer.Option(help=option_help("The head run, as --base.", "run.json"), show_default=False),
    ] = "run.json",
    policy_file: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help=option_help("Policy file.", f"{DEFAULT_POLICY_FILE} when present, else 10%"),
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        str,
        typer.Option(
            "--format", help=option_help("text, markdown or json.", "text"), show_default=False
        ),
    ] = "text",
    output: Annotated[
        Path | None,
        typer.Option(
            help=option_help("Write the report here.", "standard output"), show_default=False
        ),
    ] = None,
    warn_only: Annotated[
        bool,
        typer.Option(
            help=option_help("Report, but never exit 1.", "the policy's"), show_default=False
        ),
    ] = False,
    server: Url = None,
    token: Token = None,
) -> None:
    """Judge HEAD against BASE per critical path; exit 1 when a path got costlier beyond
    the policy, 2 when nothing could be compared."""
    if output_format not in ("text", "markdown", "json"):
        raise _fail(f"--format must be text, markdown or json, not {output_format!r}")
    try:
        base_run, head_run = _load(base, server, token), _load(head, server, token)
        if policy_file is None and Path(DEFAULT_POLICY_FILE).exists():
            policy_file = Path(DEFAULT_POLICY_FILE)
        policy = load_policy(policy_file)
    except InvalidRequest as exc:
        raise _fail(str(exc)) from None
    if warn_only:
        policy = Policy(policy.defaults, policy.paths, policy.confidence, warn_only=True)
    for run, name in ((base_run, base), (head_run, head)):
        if not run.calls:
            raise _fail(f"{name}: the run holds no model call: nothing to compare")
    if server:
        policy = policy.with_monthly_costs(_monthly_costs(server, token))
    judged = [
        judge(change, policy) for change in compare_runs(base_run, head_run, policy.confidence)
    ]
    code = report.exit_code(judged, policy)
    _write(output_format, output, base_run, head_run, judged, policy)
    raise typer.Exit(code)


def _load(reference: str, server: str | None, token: str | None) -> Run:
    """The run a --base/--head value names: a file, or a run the server keeps."""
    kind, _, value = reference.partition(":")
    if kind not in ("branch", "run") or not value or Path(reference).exists():
        return read_run(Path(reference))
    if server is None:
        raise RunFileError(f"{reference}: a run kept by a server needs --server")
    with service_client(server, token) as client:
        try:
            if kind == "branch":
                listed = client.get("/api/v1/gate/runs", params={"branch": value, "limit": 1})
                listed.raise_for_status()
                runs = listed.json()["runs"]
                if not runs:
                    raise RunFileError(f"{server} keeps no run of branch {value!r}")
                value = str(runs[0]["id"])
            response = client.get(f"/api/v1/gate/runs/{value}")
        except httpx.HTTPError as exc:
            raise RunFileError(f"cannot read {reference} from {server}: {exc}") from None
    if response.status_code != 200:
        raise RunFileError(f"{reference}: {server} answered {response.status_code}")
    return run_from_json(response.json())


def _write(
    output_format: str,
    output: Path | None,
    base: Run,
    head: Run,
    judged: list[Judged],
    policy: Policy,
) -> None:
    if output_format == "markdown":
        text = report.markdown(base, head, judged, policy)
    elif output_format == "json":
        text = json.dumps(report.as_json(base, head, judged, policy), indent=1) + "\n"
    else:
        console = Console(file=sys.stdout if output is None else None, record=True, width=120)
        table = Table(*report.HEADERS, title="spendscope cost gate")
        for row in report.path_rows(judged):
            table.add_row(*row)
        console.print(table)
        console.print(report.summary(judged, policy))
        if output is None:
            return
        text = console.export_text()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


def _monthly_costs(server: str, token: str | None) -> dict[str, float]:
    """Each feature's cost over the last 30 days at `server`, as its production volume."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    with service_client(server, token) as client:
        try:
            response = client.get(
                "/api/v1/costs", params={"group_by": "feature", "start": start.isoformat()}
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise _fail(f"cannot read production costs from {server}: {exc}") from None
    monthly = {}
    for row in response.json()["rows"]:
        feature = row["dimensions"].get("feature")
        if feature and row.get("cost_usd") is not None:
            monthly[feature] = float(row["cost_usd"])
    return monthly
