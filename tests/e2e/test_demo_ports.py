"""`spendscope demo` against ports that are taken (issue 17, item 1): with another
spendscope on its HTTP port, the demo used to say 'ready', report the other instance's
history as its own and send its traffic there. Now it stops before starting anything,
naming the port and the flag; and it talks only to the service that sends back the
instance id it gave it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.settings import INSTANCE_HEADER
from sample_data.harness.child_process import clean_environment
from sample_data.harness.server import ServerProcess, free_ports
from sample_data.stack import Child, NotOurs


def run_demo(
    data_dir: Path, http: int, grpc: int, dashboard: int
) -> subprocess.CompletedProcess[str]:
    ports = ["--http-port", str(http), "--grpc-port", str(grpc), "--dashboard-port", str(dashboard)]
    command = [sys.executable, "-m", "collector", "demo", "--data-dir", str(data_dir)]
    return subprocess.run(
        [*command, *ports, "--days", "1", "--rate", "0"],
        env={**clean_environment(), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def calls(server: ServerProcess) -> int:
    response = server.get("/api/v1/costs")
    response.raise_for_status()
    return int(response.json()["totals"]["calls"])


def test_the_demo_stops_when_another_spendscope_holds_its_http_port(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "other", {"SPENDSCOPE_INSTANCE_ID": "the-other"}) as other:
        assert other.get("/healthz").headers[INSTANCE_HEADER] == "the-other"
        grpc, dashboard = free_ports(2)
        started = time.monotonic()
        result = run_demo(tmp_path / "demo", other.http_port, grpc, dashboard)
        output = result.stdout + result.stderr
        assert result.returncode == 2, output
        assert time.monotonic() - started < 60
        assert f"127.0.0.1:{other.http_port}" in output
        assert "--http-port" in output
        assert "demo is ready" not in output
        assert "already holds" not in output
        assert not (tmp_path / "demo" / "service.log").exists()  # started nothing
        time.sleep(2)
        assert calls(other) == 0  # and sent nothing to the other instance


def test_the_demo_stops_when_its_grpc_port_is_taken(tmp_path: Path) -> None:
    http, dashboard = free_ports(2)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        grpc = held.getsockname()[1]
        result = run_demo(tmp_path / "demo", http, grpc, dashboard)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert f"127.0.0.1:{grpc}" in output
    assert "--grpc-port" in output
    assert "demo is ready" not in output


def test_a_service_that_is_not_the_demos_own_is_refused(tmp_path: Path) -> None:
    """The other case: the port was free when the demo checked it, then another spendscope
    took it before the demo's own service could. Its answers lack the demo's instance id."""
    with ServerProcess(tmp_path / "other") as other:
        own = Child("service", ["sleep", "60"], {}, tmp_path / "own.log").start()
        try:
            with pytest.raises(NotOurs, match=f"127.0.0.1:{other.http_port}"):
                own.wait_answering(
                    f"{other.http_url}/readyz", timeout=30, identity=(INSTANCE_HEADER, "demo-x")
                )
        finally:
            own.stop()
