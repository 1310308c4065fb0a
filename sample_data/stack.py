"""The demo's child processes (the service, the dashboard): started together, stopped in
order, never left behind.

Each child runs in its own session, so a Ctrl-C in the terminal reaches only the demo,
which then stops the children itself: the dashboard first, then the service, gracefully
(SIGTERM: it flushes what it accepted). Should the demo die without stopping them, the
kernel sends them SIGTERM (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import signal
import subprocess
import time
from pathlib import Path

import httpx

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(libc_name, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20.0
) -> int:
    """`sig` when it still runs, then SIGKILL after `timeout` seconds; returns the exit code."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


class ChildFailed(RuntimeError):
    """A child process exited, or did not answer in time; the message says which."""


class NotOurs(ChildFailed):
    """Another process answers where a child of the demo should."""


def check_identity(response: httpx.Response, identity: tuple[str, str], whom: str) -> None:
    """NotOurs unless `response` carries the header `identity` (name, value)."""
    name, expected = identity
    if response.headers.get(name) != expected:
        url = response.request.url.copy_with(path="/", query=None)
        raise NotOurs(
            f"{url} is answered by another process, not by {whom} "
            f"({name}: {response.headers.get(name, 'none')}, expected {expected})"
        )


class Child:
    """One child process, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no output)"

    def wait_answering(
        self, url: str, timeout: float, identity: tuple[str, str] | None = None
    ) -> None:
        """Until `url` answers 200 (a health check); ChildFailed if the child exits first or
        the time is up, or at once when the answer lacks the `identity` header (name, value)
        this child sends: then another process holds its port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise ChildFailed(f"the {self.name} exited:\n{self.log_tail()}")
            try:
                response = httpx.get(url, timeout=2)
            except httpx.HTTPError:
                response = None
            if response is not None and identity is not None:
                check_identity(response, identity, f"the {self.name} this demo started")
            if response is not None and response.status_code == 200:
                return
            time.sleep(0.2)
        raise ChildFailed(f"the {self.name} did not answer at {url} within {timeout:.0f} s")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit code."""
        if self.process is None:
            return None
        return stop_process(self.process, timeout=timeout)
