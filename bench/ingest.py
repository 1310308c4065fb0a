"""End-to-end ingest benchmark: the real server, OTLP/HTTP, concurrent keep-alive clients.

    .venv/bin/python -m bench.ingest [--spans 1000] [--clients 4] [--json] [--duration 10]

What it does, in order:
1. Builds realistic GenAI export bodies up front (`sample_data.harness.payloads`), one distinct
body per
   request (fresh trace ids), so nothing is generated while the clock runs.
2. Measures, in this process pinned to the server's core, the rate of the server's own
   decode function (`collector.ingest.traces.decode.decode_traces`: parse, normalize, Arrow table)
   over
   the same bodies: the in-process ceiling that the end-to-end figure is compared with.
3. Starts `python -m collector serve` pinned to one core (`--server-cpus`, default 0) with
   a fresh data directory, and client processes pinned to the other cores (`--client-cpus`).
   Each client holds one keep-alive httpx connection and sends its bodies back to back
   until the duration or its request budget runs out. A 200 comes only after the commit.
4. Prints spans/s, requests/s, p50/p99 latency, the server's CPU use, the in-process rate
   and the ratio, checks them against the targets, then stops the server (SIGTERM), opens
   the database and checks that the stored rows equal the spans acknowledged.

All traffic goes to 127.0.0.1. The run is bounded by `--duration` and a request budget.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import duckdb
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from sample_data.harness.child_process import answers_200, kill, wait_ready
from sample_data.harness.payloads import Template, make_template, request_prefix
from sample_data.harness.server import free_ports

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
TEMPLATES = 4
# Request budget per client: enough for this many spans/s over the duration.
BUDGET_SPANS_PER_SECOND = {False: 100_000, True: 50_000}
TARGETS = {
    # (json): (spans/s end to end, share of the in-process rate, p99 ms at <= 4 clients)
    False: (40_000.0, 0.60, 250.0),
    True: (20_000.0, None, None),
}


@dataclass
class ClientResult:
    client: int
    latencies: list[float] = field(default_factory=list)  # measured requests, seconds
    first_start: float = math.inf
    last_end: float = 0.0
    measured_spans: int = 0
    acknowledged_spans: int = 0  # all 200s, warm-up included (for the row-count check)
    statuses: dict[int, int] = field(default_factory=dict)
    rejected_spans: int = 0
    errors: list[str] = field(default_factory=list)
    exhausted: bool = False


def _cpu_list(text: str) -> set[int]:
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def _acknowledged(response: httpx.Response, json_body: bool, spans: int) -> tuple[int, int]:
    """(accepted, rejected) spans of a 200 response (OTLP partial success)."""
    rejected = 0
    if json_body:
        partial = response.json().get("partialSuccess") or {}
        rejected = int(partial.get("rejectedSpans") or 0)
    else:
        message = ExportTraceServiceResponse()
        message.ParseFromString(response.content)
        rejected = message.partial_success.rejected_spans
    return spans - rejected, rejected


def run_client(
    client: int,
    url: str,
    templates: Sequence[Template],
    json_body: bool,
    run_id: int,
    budget: int,
    warmup: int,
    cpus: set[int],
    duration: float,
    ready: Barrier,
    results: Any,
) -> None:
    """One client process: build its bodies, warm up, then send back to back."""
    os.sched_setaffinity(0, cpus)
    result = ClientResult(client)
    bodies = [
        templates[n % len(templates)].stamp(request_prefix(run_id, client, n, json=json_body))
        for n in range(warmup + budget)
    ]
    spans = templates[0].spans
    headers = {"Content-Type": JSON if json_body else PROTOBUF}
    timeout = httpx.Timeout(60.0, connect=5.0)
    with httpx.Client(base_url=url, headers=headers, timeout=timeout) as http:

        def send(body: bytes) -> tuple[float, float, httpx.Response | None]:
            started = time.perf_counter()
            try:
                response: httpx.Response | None = http.post("/v1/traces", content=body)
            except httpx.HTTPError as exc:
                result.errors.append(f"{type(exc).__name__}: {exc}")
                response = None
            ended = time.perf_counter()
            if response is not None:
                result.statuses[response.status_code] = (
                    result.statuses.get(response.status_code, 0) + 1
                )
                if response.status_code == 200:
                    accepted, rejected = _acknowledged(response, json_body, spans)
                    result.acknowledged_spans += accepted
                    result.rejected_spans += rejected
            return started, ended, response

        for body in bodies[:warmup]:
            send(body)
        ready.wait()
        start = time.perf_counter()
        deadline = start + duration
        for index, body in enumerate(bodies[warmup:]):
            started, ended, response = send(body)
            if response is not None and response.status_code == 200:
                result.latencies.append(ended - started)
                result.measured_spans += spans
            result.first_start = min(result.first_start, started)
            result.last_end = ended
            if ended >= deadline:
                break
            if index == budget - 1:
                result.exhausted = True
    results.put(result)


def measure_decode(
    templates: Sequence[Template], json_body: bool, seconds: float
) -> tuple[float, float]:
    """Spans per wall second and per CPU second of the server's decode function, in this
    process on the current core (median of passes over the bodies)."""
    from collector.ingest.normalize import Normalizer
    from collector.ingest.traces.decode import decode_traces
    from collector.service import dimension_rules
    from collector.settings import Settings

    normalizer = Normalizer(dimension_rules(Settings()))
    content_type = JSON if json_body else PROTOBUF
    bodies = [
        t.stamp(request_prefix(0xFFFF, 0xFF, n, json=json_body)) for n, t in enumerate(templates)
    ]
    decode_traces(bodies[0], content_type, normalizer)  # warm caches and imports
    rates: list[float] = []
    cpu_rates: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(rates) < 3:
        started, cpu_started = time.perf_counter(), time.thread_time()
        spans = 0
        for body in bodies:
            spans += decode_traces(body, content_type, normalizer).accepted
        rates.append(spans / (time.perf_counter() - started))
        cpu_rates.append(spans / (time.thread_time() - cpu_started))
    return statistics.median(rates), statistics.median(cpu_rates)


def _start_profiler(
    output: str | None, pid: int, duration: float
) -> subprocess.Popen[bytes] | None:
    """py-spy (a dev tool, `pip install py-spy`) sampling the server over the window."""
    if not output:
        return None
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), "--duration", str(max(1, int(duration))),
         "--rate", "200", "--threads", "--nonblocking", "--format", "raw", "-o", output],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_metrics(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("spendscope_") and "{" not in line:
            name, _, value = line.partition(" ")
            values[name] = float(value)
    return values


class Server:
    """`python -m collector serve` pinned to `cpus`, on free loopback ports."""

    def __init__(self, data_dir: Path, cpus: set[int], jobs_interval: float | None) -> None:
        self.data_dir = data_dir
        self.cpus = cpus
        self.jobs_interval = jobs_interval
        self.http_port, self.grpc_port = free_ports(2)
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.log_path = data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        env = {
            **os.environ,
            "SPENDSCOPE_DATA_DIR": str(self.data_dir),
            "SPENDSCOPE_HOST": "127.0.0.1",
            "SPENDSCOPE_HTTP_PORT": str(self.http_port),
            "SPENDSCOPE_GRPC_PORT": str(self.grpc_port),
            "SPENDSCOPE_LOG_FORMAT": "text",
        }
        if self.jobs_interval is not None:
            env["SPENDSCOPE_ATTRIBUTION_INTERVAL_SECONDS"] = str(self.jobs_interval)
        cpus = self.cpus
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "collector", "serve"],
                env=env,
                stdout=log,
                stderr=log,
                # Pinned before exec, so every thread the server starts inherits it
                # (the same as `taskset -c 0 python -m collector serve`).
                preexec_fn=lambda: os.sched_setaffinity(0, cpus),
            )
        if wait_ready(
            self.process,
            lambda: answers_200(httpx.get, f"{self.url}/readyz"),
            timeout,
            0.1,
            lambda: f"server exited: {self.log_path.read_text()[-3000:]}",
        ):
            return
        self.kill()
        raise TimeoutError(f"server not ready: {self.log_path.read_text()[-3000:]}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        kill(self.process)


def _stored_rows(database: Path) -> int:
    connection = duckdb.connect(str(database), read_only=True)
    try:
        row = connection.execute("SELECT count(*) FROM spans").fetchone()
    finally:
        connection.close()
    return int(row[0]) if row else 0


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(0, math.ceil(q * len(ordered)) - 1)
    return ordered[rank]


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--spans", type=int, default=1000, help="spans per request")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes")
    parser.add_argument("--json", action="store_true", help="send OTLP/JSON, not protobuf")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per client")
    parser.add_argument(
        "--requests",
        type=int,
        default=0,
        help="request budget per client (default: enough for 100k spans/s, 50k for JSON)",
    )
    parser.add_argument("--decode-seconds", type=float, default=3.0, help="in-process timing")
    parser.add_argument("--server-cpus", default="0", help="cores for the server (taskset list)")
    parser.add_argument("--client-cpus", default="", help="cores for clients (default: others)")
    parser.add_argument(
        "--jobs-interval",
        type=float,
        help="seconds between the server's scheduled jobs (attribution, pricing, rollups); "
        "default: the server's own. A value longer than the run measures ingest alone.",
    )
    parser.add_argument("--py-spy", metavar="FILE", help="profile the server into FILE (raw)")
    args = parser.parse_args(argv)
    if args.spans < 1 or args.clients < 1 or args.duration <= 0:
        parser.error("--spans, --clients and --duration must be positive")
    if args.clients > 255:
        parser.error("at most 255 clients")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    json_body: bool = args.json
    server_cpus = _cpu_list(args.server_cpus)
    available = os.sched_getaffinity(0)
    client_cpus = _cpu_list(args.client_cpus) if args.client_cpus else available - server_cpus
    if not client_cpus:
        client_cpus = available
    budget = args.requests or math.ceil(
        args.duration * BUDGET_SPANS_PER_SECOND[json_body] / args.spans / args.clients
    )
    encoding = "OTLP/JSON" if json_body else "OTLP/protobuf"

    print(f"building {TEMPLATES} {encoding} bodies of {args.spans} spans ...", flush=True)
    templates = [make_template(args.spans, seed, json=json_body) for seed in range(TEMPLATES)]
    attributes = sum(t.attributes for t in templates) / sum(t.spans for t in templates)
    body_kib = statistics.mean(len(t.body) for t in templates) / 1024

    os.sched_setaffinity(0, server_cpus)
    decode_rate, decode_cpu_rate = measure_decode(templates, json_body, args.decode_seconds)
    os.sched_setaffinity(0, client_cpus)
    print(f"in-process decode + normalize + Arrow: {decode_rate:,.0f} spans/s", flush=True)
    load_before = os.getloadavg()[0]

    run_id = int.from_bytes(os.urandom(2), "big")
    with tempfile.TemporaryDirectory(prefix="spendscope-bench-") as tmp:
        server = Server(Path(tmp), server_cpus, args.jobs_interval)
        server.start()
        try:
            context = mp.get_context("spawn")
            ready = context.Barrier(args.clients + 1)
            results = context.Queue()
            processes = [
                context.Process(
                    target=run_client,
                    args=(
                        client,
                        server.url,
                        templates,
                        json_body,
                        run_id,
                        budget,
                        args.warmup,
                        client_cpus,
                        args.duration,
                        ready,
                        results,
                    ),
                )
                for client in range(args.clients)
            ]
            for process in processes:
                process.start()
            ready.wait(timeout=300)
            profiler = _start_profiler(args.py_spy, server.pid, args.duration)
            cpu_before = _cpu_seconds(server.pid)
            wall_before = time.perf_counter()
            collected: list[ClientResult] = [
                results.get(timeout=args.duration + 300) for _ in processes
            ]
            wall = time.perf_counter() - wall_before
            cpu_used = _cpu_seconds(server.pid) - cpu_before
            for process in processes:
                process.join(30)
            if profiler is not None:
                profiler.wait(60)
            metrics = _server_metrics(server.url)
            stopped = server.stop()
        except BaseException:
            server.kill()
            raise
        stored = _stored_rows(server.data_dir / "spendscope.duckdb")

    latencies = [x for r in collected for x in r.latencies]
    window = max(r.last_end for r in collected) - min(r.first_start for r in collected)
    measured_spans = sum(r.measured_spans for r in collected)
    acknowledged = sum(r.acknowledged_spans for r in collected)
    statuses: dict[int, int] = {}
    for r in collected:
        for status, count in r.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    errors = [e for r in collected for e in r.errors]
    rate = measured_spans / window if window > 0 else 0.0
    p50 = _percentile(latencies, 0.50) * 1000
    p99 = _percentile(latencies, 0.99) * 1000
    ratio = rate / decode_rate if decode_rate else 0.0
    commits = metrics.get("spendscope_commits_total", 0.0)
    commit_seconds = metrics.get("spendscope_commit_seconds_sum", 0.0)
    written = metrics.get("spendscope_spans_written_total", 0.0)

    print()
    print(f"spendscope ingest benchmark ({encoding}, {args.spans} spans/request)")
    print(
        f"  payload            {body_kib:,.0f} KiB/request, {attributes:.1f} attributes/span "
        f"on average, unique ids per request"
    )
    print(
        f"  clients            {args.clients} processes on cpus {sorted(client_cpus)}, "
        f"one keep-alive httpx connection each"
    )
    print(f"  server             python -m collector serve pinned to cpus {sorted(server_cpus)}")
    print(
        "  scheduled jobs     "
        + (
            f"every {args.jobs_interval:g} s (SPENDSCOPE_ATTRIBUTION_INTERVAL_SECONDS)"
            if args.jobs_interval is not None
            else "at the server's default interval"
        )
    )
    print(
        f"  window             {window:.2f} s, {len(latencies)} requests measured "
        f"(+{args.warmup} warm-up per client)"
        + (", ended by the request budget" if any(r.exhausted for r in collected) else "")
    )
    print(f"  end to end         {rate:,.0f} spans/s ({len(latencies) / window:,.1f} requests/s)")
    print(f"  latency            p50 {p50:,.1f} ms, p99 {p99:,.1f} ms")
    cpu_rate = measured_spans / cpu_used if cpu_used > 0 else 0.0
    print(
        f"  server CPU         {cpu_used / wall:.2f} cores busy, "
        f"{cpu_used / max(measured_spans, 1) * 1e6:.1f} us of CPU per span "
        f"= {cpu_rate:,.0f} spans per CPU-second"
    )
    if commits:
        print(
            f"  group commits      {commits:,.0f}, {written / commits:,.0f} spans and "
            f"{commit_seconds / commits * 1000:,.1f} ms each on average"
        )
    print(
        f"  in-process decode  {decode_rate:,.0f} spans/s, {decode_cpu_rate:,.0f} spans per "
        "CPU-second (decode + normalize + Arrow, 1 core)"
    )
    cpu_ratio = cpu_rate / decode_cpu_rate if decode_cpu_rate else 0.0
    print(
        f"  ratio              {ratio:.0%} of the in-process rate ({cpu_ratio:.0%} per CPU-second)"
    )
    print(
        f"  machine load       load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after (2 cores; above ~2 the core was shared)"
    )
    print(f"  responses          {dict(sorted(statuses.items()))}, {len(errors)} client errors")
    for error in errors[:5]:
        print(f"    {error}")
    rows_ok = stored == acknowledged and not errors
    print(
        f"  stored rows        {stored:,} (acknowledged {acknowledged:,}): "
        f"{'equal' if stored == acknowledged else 'MISMATCH'}; server exit code {stopped}"
    )

    min_rate, min_ratio, max_p99 = TARGETS[json_body]
    checks = [(f"spans/s >= {min_rate:,.0f}", rate >= min_rate)]
    if min_ratio is not None:
        checks.append((f"ratio >= {min_ratio:.0%}", ratio >= min_ratio))
    if max_p99 is not None and args.clients <= 4:
        checks.append((f"p99 < {max_p99:.0f} ms", p99 < max_p99))
    checks.append(("stored rows == acknowledged", rows_ok))
    checks.append(("every request answered 200", set(statuses) == {200}))
    print("  targets            " + "; ".join(f"{n}: {_verdict(ok)}" for n, ok in checks))
    return 0 if rows_ok else 1


if __name__ == "__main__":
    sys.exit(main())
