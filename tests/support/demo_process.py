"""`spendscope demo` as a subprocess on free ports, for the tests that drive the whole stack."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

import httpx

from sample_data.harness.child_process import clean_environment, wait_ready
from sample_data.harness.server import free_ports
from sample_data.stack import stop_process

READY = "spendscope demo is ready"


class DemoProcess:
    def __init__(self, data_dir: Path, *args: str) -> None:
        self.data_dir = data_dir
        self.http_port, self.grpc_port, self.dashboard_port = free_ports(3)
        self.args = args
        self.output = data_dir / "demo.out"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def start(self, timeout: float = 240.0) -> DemoProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = clean_environment()
        env["COLUMNS"] = "200"  # the ready panel on one line per item
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "collector",
                    "demo",
                    "--data-dir",
                    str(self.data_dir),
                    "--http-port",
                    str(self.http_port),
                    "--grpc-port",
                    str(self.grpc_port),
                    "--dashboard-port",
                    str(self.dashboard_port),
                    *self.args,
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if wait_ready(
            self.process,
            lambda: READY in self.text(),
            timeout,
            0.5,
            lambda: f"demo exited: {self.text()[-3000:]}",
        ):
            return self
        self.stop()
        raise TimeoutError(f"demo not ready: {self.text()[-3000:]}")

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def children(self) -> list[int]:
        assert self.process is not None
        found = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in found.stdout.split()]

    @property
    def token(self) -> str | None:
        """The API token the demo printed (with --auth)."""
        text = self.text()
        return text.split("API token  ", 1)[1].split()[0] if "API token  " in text else None

    def get(self, path: str, **params: object) -> httpx.Response:
        """GET on the API, with the demo's token when it has one."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.get(
            f"{self.api_url}{path}",
            params=params,  # type: ignore[arg-type]
            headers=headers,
            timeout=30,
        )

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60.0) -> int:
        assert self.process is not None
        return stop_process(self.process, sig, timeout)

    def __enter__(self) -> DemoProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        children = self.children() if self.process and self.process.poll() is None else []
        self.stop()
        for pid in children:  # never leave a server behind, even when a test failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
