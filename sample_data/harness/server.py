"""A real spendscope server in a subprocess, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import ipaddress
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from sample_data.harness.child_process import answers_200, clean_environment, kill, wait_ready

# A body limit for test servers that must answer 413 cheaply (the default is 64 MiB).
SMALL_MAX_BODY_BYTES = 1 << 20


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free ports: all sockets stay bound until every port is chosen, so the
    kernel cannot hand the same port out twice."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(family))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def free_port() -> int:
    return free_ports(1)[0]


def _client_host(bind_host: str) -> str:
    """The loopback address a client on this machine uses to reach `bind_host`."""
    if bind_host in ("", "0.0.0.0", "localhost"):
        return "127.0.0.1"
    if bind_host == "::":
        return "[::1]"
    try:
        address = ipaddress.ip_address(bind_host)
    except ValueError:
        return bind_host
    return f"[{address}]" if address.version == 6 else str(address)


class ServerProcess:
    """`spendscope serve` on free loopback ports with its own data directory.

    `env` adds or overrides `SPENDSCOPE_*` variables. When it sets `SPENDSCOPE_API_TOKENS`,
    `get()` and `wait_attributed()` send the first token. `address_space_bytes` caps the
    child's virtual memory (RLIMIT_AS, as `prlimit --as=` does): past it, its allocations fail.
    """

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        *,
        address_space_bytes: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.extra_env = env or {}
        self.address_space_bytes = address_space_bytes
        self.host = _client_host(self.extra_env.get("SPENDSCOPE_HOST", "127.0.0.1"))
        self.http_port, self.grpc_port = free_ports(2, self.host.strip("[]"))
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"
        api_tokens = [t.strip() for t in self.extra_env.get("SPENDSCOPE_API_TOKENS", "").split(",")]
        self.api_token = next((t for t in api_tokens if t), None)
        # One client for every request: each new httpx client loads the CA bundle, which
        # costs more CPU than the request itself.
        self.client = httpx.Client(timeout=10)

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "spendscope.duckdb"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **clean_environment(),
            "SPENDSCOPE_DATA_DIR": str(self.data_dir),
            "SPENDSCOPE_HTTP_PORT": str(self.http_port),
            "SPENDSCOPE_GRPC_PORT": str(self.grpc_port),
            "SPENDSCOPE_ATTRIBUTION_INTERVAL_SECONDS": "0.2",
            "SPENDSCOPE_LOG_FORMAT": "text",
            **self.extra_env,
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "collector", "serve"],
                env=env,
                stdout=log,
                stderr=log,
                preexec_fn=self._limit_address_space if self.address_space_bytes else None,
            )
        if wait_ready(
            self.process,
            lambda: answers_200(self.client.get, f"{self.http_url}/readyz"),
            timeout,
            0.1,
            lambda: f"server exited: {self.log_tail()}",
        ):
            return self
        self.kill()
        raise TimeoutError(f"server not ready: {self.log_tail()}")

    def _limit_address_space(self) -> None:
        """Runs in the child between fork and exec."""
        assert self.address_space_bytes is not None
        limit = self.address_space_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def peak_rss_bytes(self) -> int:
        """The running child's peak resident memory so far (VmHWM, kept by the kernel)."""
        assert self.process is not None and self.process.poll() is None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024  # kB

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.kill()
        self.client.close()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no log)"

    def stop(self, timeout: float = 30.0) -> int:
        """Graceful stop (SIGTERM): the server flushes what it accepted."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """kill -9: no chance to flush anything."""
        kill(self.process)

    def auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_token}"} if self.api_token else {}

    def get(
        self, path: str, *, headers: dict[str, str] | None = None, **params: object
    ) -> httpx.Response:
        """GET on the HTTP port; sends the API token unless `headers` are given."""
        return self.client.get(
            f"{self.http_url}{path}",
            params=params,  # type: ignore[arg-type]
            headers=self.auth_headers() if headers is None else headers,
        )

    def wait_attributed(self, timeout: float = 15.0) -> None:
        """Wait until every job (attribution, pricing, rollups, ...) has caught up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.get("/api/v1/jobs")
            response.raise_for_status()
            if jobs_caught_up(response.json()):
                return
            time.sleep(0.1)
        raise TimeoutError(f"the jobs did not catch up: {response.text}")


def jobs_caught_up(state: dict[str, Any]) -> bool:
    """Each job's watermark has reached its input (`input_high`). Where `/api/v1/jobs` does
    not report `input_high`, only the attribution job's watermark, an ingest batch id, can
    be compared with the latest batch."""
    latest = int(state["latest_batch_id"])
    jobs = state["jobs"]
    if jobs and all("input_high" in job for job in jobs):
        return all(job["watermark"] >= job["input_high"] for job in jobs)
    attribution = [job for job in jobs if job["name"] == "attribution"]
    if not attribution:
        return latest == 0
    return bool(attribution[0]["watermark"] >= latest)
