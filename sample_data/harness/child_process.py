"""A spendscope process that a test or benchmark starts: its environment, waiting until it is
ready, and killing it."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable

import httpx


def clean_environment() -> dict[str, str]:
    """This process's environment without the developer's own `SPENDSCOPE_*` settings, which
    must not leak into a test's child."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}


def wait_ready(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    timeout: float,
    interval: float,
    exited: Callable[[], str],
) -> bool:
    """Polls `ready` every `interval` seconds until it is true (True) or `timeout` seconds have
    passed (False); raises RuntimeError(`exited()`) when the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        if process.poll() is not None:
            raise RuntimeError(exited())
        time.sleep(interval)
    return False


def answers_200(get: Callable[..., httpx.Response], url: str) -> bool:
    """Whether a health check at `url` answers 200 within a second; a connection error means
    not yet."""
    try:
        return get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def kill(process: subprocess.Popen[bytes] | None) -> None:
    """kill -9 when it still runs: no chance to flush anything."""
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(10)
