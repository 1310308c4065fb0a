"""The lock files and the venvs `make install` builds from them: `.venv` from
requirements.lock (the project with its dev set) and `.venv-openlit` from
requirements-openlit.lock (OpenLIT's test application, tests/support/instrumented_calls.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.paths import REPO

LOCK = REPO / "requirements.lock"
OPENLIT_LOCK = REPO / "requirements-openlit.lock"
OPENLIT_PYTHON = REPO / ".venv-openlit" / "bin" / "python"


def locked(lock: Path) -> dict[str, tuple[Version, Requirement]]:
    """Package -> (pinned version, its line) for the lines of `lock` that apply here."""
    pins: dict[str, tuple[Version, Requirement]] = {}
    for line in lock.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", line
        if requirement.marker is None or requirement.marker.evaluate():
            pins[canonicalize_name(requirement.name)] = (Version(spec.version), requirement)
    return pins


def openlit_python() -> Path:
    """.venv-openlit's interpreter. Where it is missing, the calling test fails when
    SPENDSCOPE_E2E_REQUIRED=1 (`.ci/run` sets it) and is skipped otherwise, naming the fix."""
    if not OPENLIT_PYTHON.exists():
        missing = (
            f"{OPENLIT_PYTHON} is missing: run `make install` (it builds .venv-openlit "
            f"from {OPENLIT_LOCK.name})"
        )
        if os.environ.get("SPENDSCOPE_E2E_REQUIRED") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    return OPENLIT_PYTHON
