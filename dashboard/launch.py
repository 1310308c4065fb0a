"""How `spendscope dashboard` starts Streamlit: the command line and its environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dashboard.settings import DashboardSettings

APP = Path(__file__).with_name("app.py")


def streamlit_command(settings: DashboardSettings) -> tuple[list[str], dict[str, str]]:
    """`streamlit run dashboard/app.py` on the settings' address, and the environment that
    hands the app its settings (flags given on the command line included)."""
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        settings.dashboard_host,
        "--server.port",
        str(settings.dashboard_port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]
    env = {
        **os.environ,
        "SPENDSCOPE_API_URL": settings.api_url,
        "SPENDSCOPE_API_TIMEOUT_SECONDS": str(settings.api_timeout_seconds),
    }
    if settings.api_token is not None:
        env["SPENDSCOPE_API_TOKEN"] = settings.api_token.get_secret_value()
    return argv, env
