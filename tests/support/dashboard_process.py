"""`spendscope dashboard` (Streamlit) as a subprocess on a free port, reading a given API,
for the browser tests that bring their own server."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import TracebackType

import httpx

from dashboard.launch import streamlit_command
from dashboard.settings import DashboardSettings
from sample_data.harness.child_process import answers_200, clean_environment, kill, wait_ready
from sample_data.harness.server import free_port


class DashboardProcess:
    def __init__(self, api_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.api_url = api_url
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> DashboardProcess:
        settings = DashboardSettings(api_url=self.api_url, dashboard_port=self.port)
        argv, env = streamlit_command(settings)
        env = {**clean_environment(), **{k: v for k, v in env.items() if "SPENDSCOPE" in k}}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
        if wait_ready(
            self.process,
            lambda: answers_200(httpx.get, f"{self.url}/_stcore/health"),
            timeout,
            0.2,
            lambda: f"dashboard exited: {self.log_path.read_text()[-3000:]}",
        ):
            return self
        kill(self.process)
        raise TimeoutError(f"dashboard not ready: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                kill(self.process)

    def __enter__(self) -> DashboardProcess:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
