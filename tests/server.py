"""A real spendscope server in a subprocess, for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """`spendscope serve` on free loopback ports with its own data directory."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "spendscope.duckdb"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "SPENDSCOPE_DATA_DIR": str(self.data_dir),
            "SPENDSCOPE_HTTP_PORT": str(self.http_port),
            "SPENDSCOPE_GRPC_PORT": str(self.grpc_port),
            "SPENDSCOPE_ATTRIBUTION_INTERVAL_SECONDS": "0.2",
            "SPENDSCOPE_LOG_FORMAT": "text",
            **self.extra_env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "collector", "serve"], env=env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.http_url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise TimeoutError(f"server not ready: {self.log_path.read_text()[-3000:]}")

    def stop(self, timeout: float = 30.0) -> int:
        """Graceful stop (SIGTERM): the server flushes what it accepted."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """kill -9: no chance to flush anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def get(self, path: str, **params: object) -> httpx.Response:
        return httpx.get(f"{self.http_url}{path}", params=params, timeout=10)  # type: ignore[arg-type]

    def wait_attributed(self, timeout: float = 15.0) -> None:
        """Wait until the attribution job has caught up with everything ingested."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.get("/api/v1/jobs").json()
            latest = state["latest_batch_id"]
            if all(job["watermark"] >= latest for job in state["jobs"]) and (
                state["jobs"] or latest == 0
            ):
                return
            time.sleep(0.1)
        raise TimeoutError("attribution did not catch up")
