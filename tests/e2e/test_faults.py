"""Faults of the data directory (docs/reliability.md), on a real filesystem that really
fails: a small tmpfs mounted for the test (we run as root, so permissions alone would not
stop a write; a full or read-only filesystem stops root too).

- Disk full while serving: ingest answers 503 with Retry-After and the reason, /readyz
  says not ready and why, nothing acknowledged is lost, the real OTel exporter's retries
  deliver once space is freed, and the jobs catch up.
- A read-only data directory at start: a one-line error naming the directory, exit 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.trace.export import SpanExportResult

from sample_data.harness import otlp
from sample_data.harness.server import ServerProcess, free_ports
from tests.collector.ingest.test_durability import (
    SPANS_PER_REQUEST,
    export_body,
    post,
    sdk_spans,
    stored_per_trace,
)

NO_SPACE = "No space left on device"


def mount_tmpfs(path: Path, options: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB filesystem of the test's own."""
    disk = tmp_path / "disk"
    mount_tmpfs(disk, "size=64m")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


def fill(disk: Path) -> Path:
    """Write a file until the filesystem is full; returns it (delete it to free space)."""
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * (1 << 20))
                out.flush()
        except OSError as exc:
            assert exc.strerror == NO_SPACE
    return filler


def ready(server: ServerProcess) -> httpx.Response:
    return server.get("/readyz")


def test_disk_full_refuses_with_503_and_recovers_without_loss(small_disk: Path) -> None:
    server = ServerProcess(small_disk / "data", env={"SPENDSCOPE_RETRY_AFTER_SECONDS": "1"})
    server.log_path = small_disk.parent / "server.log"  # logs go elsewhere, as to a journal
    try:
        fill_refuse_and_recover(server, small_disk)
    finally:
        server.kill()


def fill_refuse_and_recover(server: ServerProcess, small_disk: Path) -> None:
    server.start()
    acked: list[int] = []
    refusals: list[httpx.Response] = []
    exported: list[SpanExportResult] = []
    spans = sdk_spans(300)
    with httpx.Client(timeout=30) as client:
        for number in range(1, 6):
            assert post(client, server.http_url, export_body(number)).status_code == 200
            acked.append(number)

        filler = fill(small_disk)
        for number in range(6, 60):
            response = post(client, server.http_url, export_body(number))
            if response.status_code == 200:
                acked.append(number)  # the WAL may still have had room
                continue
            refusals.append(response)
            if len(refusals) == 3:
                break
        assert refusals, "the writes never failed on a full disk"
        for response in refusals:
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            status = status_pb2.Status.FromString(response.content)
            assert status.code == code_pb2.UNAVAILABLE and NO_SPACE in status.message
        readiness = ready(server)
        assert readiness.status_code == 503
        assert any(NO_SPACE in problem for problem in readiness.json()["problems"])
        assert NO_SPACE in server.log_path.read_text()

        # The real exporter meets the 503s and retries; space comes back meanwhile.
        exporter = HttpSpanExporter(endpoint=f"{server.http_url}/v1/traces", timeout=60)
        thread = threading.Thread(target=lambda: exported.append(exporter.export(spans)))
        thread.start()
        time.sleep(2)
        assert not exported, "the exporter was acknowledged while the disk was full"
        filler.unlink()
        thread.join(90)
        exporter.shutdown()
        assert exported == [SpanExportResult.SUCCESS]

        assert post(client, server.http_url, export_body(100)).status_code == 200
        acked.append(100)
        assert ready(server).json() == {"status": "ready"}
    server.wait_attributed(timeout=90)
    jobs = server.get("/api/v1/jobs").json()["jobs"]
    assert all(job["last_error"] is None for job in jobs), jobs

    server.kill()  # what was acknowledged during and after the fault is on disk
    server.start()
    assert server.stop() == 0
    stored = stored_per_trace(server.database_path)
    assert {n: stored.get(n) for n in acked} == dict.fromkeys(acked, SPANS_PER_REQUEST)
    sdk_traces = {span.context.trace_id for span in spans}
    assert sdk_traces <= set(stored)
    assert all(stored[trace] == 1 for trace in sdk_traces)


def test_a_read_only_data_directory_is_a_clear_error_at_start(tmp_path: Path) -> None:
    disk = tmp_path / "readonly"
    mount_tmpfs(disk, "ro,size=1m")
    try:
        http_port, grpc_port = free_ports(2)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}
        env |= {
            "SPENDSCOPE_DATA_DIR": str(disk / "data"),
            "SPENDSCOPE_HTTP_PORT": str(http_port),
            "SPENDSCOPE_GRPC_PORT": str(grpc_port),
            "SPENDSCOPE_LOG_FORMAT": "text",
        }
        for command in (["serve"], ["jobs", "run"]):
            result = subprocess.run(
                [sys.executable, "-m", "collector", *command],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 2, result.stderr
            output = result.stdout + result.stderr
            assert f"the data directory {disk / 'data'} is not writable: Read-only file system" in (
                output
            )
            assert "Traceback" not in output
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


GOOD_PRICES = """
[[prices]]
provider = "openai"
model = "gpt-4o"
input_mtok = "1"
output_mtok = "2"
"""
BAD_PRICES = GOOD_PRICES.replace('output_mtok = "2"', 'output_mtok = "-2"')
BAD_ENTRY = "price #1 (openai/gpt-4o): output_mtok: must be a finite, non-negative number"


def model_call_cost(server: ServerProcess, trace: int) -> tuple[str, str]:
    (call,) = server.get("/api/v1/spans", trace_id=f"{trace:032x}").json()["spans"]
    return call["cost_usd"], call["price_source"]


def test_a_price_file_with_errors_keeps_the_prices_in_force(tmp_path: Path) -> None:
    data_dir = tmp_path / "server"
    data_dir.mkdir()
    prices = data_dir / "prices.toml"
    prices.write_text(GOOD_PRICES)
    with ServerProcess(data_dir) as server:
        reject_and_reload(server, prices)


def reject_and_reload(server: ServerProcess, prices: Path) -> None:

    def send(trace: int) -> None:
        body = otlp.request([otlp.span(trace, 1, name="chat", attributes=otlp.MODEL_CALL)])
        response = post(server.client, server.http_url, body.SerializeToString())
        assert response.status_code == 200

    send(1)
    server.wait_attributed(timeout=60)
    # 100 input tokens at $1 and 20 output tokens at $2 per million
    assert model_call_cost(server, 1) == ("0.00014", "override")

    # A restart with a broken file: the service starts, says why, keeps the old prices.
    prices.write_text(BAD_PRICES)
    assert server.stop() == 0
    server.start()
    readiness = server.get("/readyz")
    assert readiness.status_code == 200
    (warning,) = readiness.json()["warnings"]
    assert str(prices) in warning and BAD_ENTRY in warning
    (error,) = server.get("/api/v1/prices").json()["file_errors"]
    assert str(prices) in error and BAD_ENTRY in error
    assert f"price file {prices} rejected" in server.log_path.read_text()
    send(2)  # ingest unaffected, priced with the prices in force
    server.wait_attributed(timeout=60)
    assert model_call_cost(server, 2) == ("0.00014", "override")

    reload = server.client.post(f"{server.http_url}/api/v1/prices/reload")
    assert reload.status_code == 422 and BAD_ENTRY in reload.text
    prices.write_text(GOOD_PRICES.replace('output_mtok = "2"', 'output_mtok = "3"'))
    assert server.client.post(f"{server.http_url}/api/v1/prices/reload").status_code == 200
    assert server.get("/readyz").json() == {"status": "ready"}
    assert server.get("/api/v1/prices").json()["file_errors"] == []
    deadline = time.monotonic() + 60
    while model_call_cost(server, 2) != ("0.00016", "override"):  # re-priced by itself
        assert time.monotonic() < deadline, "the new file price never re-priced the call"
        time.sleep(0.2)
    assert server.stop() == 0
