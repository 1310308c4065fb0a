"""Installing spendscope (issue 17, item 12): pyproject.toml declares compatible ranges
and the Python versions the stack supports, so the package installs beside others;
requirements.lock keeps the set that was tested, `make install` holds pip to it, and the
environment the suite runs in is that set. OpenLIT's test application has a venv and a lock of
its own (.venv-openlit, requirements-openlit.lock): the venv is that lock, exactly."""

from __future__ import annotations

import json
import subprocess
import tomllib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.paths import REPO
from tests.support.venvs import LOCK, OPENLIT_LOCK, locked, openlit_python

PYPROJECT: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
DECLARED = [
    Requirement(text)
    for text in [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["dev"]]
]


@pytest.mark.parametrize("requirement", DECLARED, ids=str)
def test_a_dependency_is_a_range_not_a_pin(requirement: Requirement) -> None:
    operators = {spec.operator for spec in requirement.specifier}
    assert not operators & {"==", "==="}, f"{requirement} is pinned: declare a range"
    assert ">=" in operators, f"{requirement} has no lower bound"


def test_python_versions_the_stack_supports_are_allowed() -> None:
    allowed = SpecifierSet(PROJECT["requires-python"])
    for python in ("3.11.7", "3.12.0", "3.13.0", "3.14.0"):
        assert allowed.contains(python), python
    assert not allowed.contains("3.10.12")  # the code uses 3.11 (datetime.UTC, tomllib)
    declared = {c.rsplit(" ", 1)[1] for c in PROJECT["classifiers"] if c.count("::") == 2}
    assert {"3.11", "3.12", "3.13", "3.14"} <= declared


def test_duckdb_stays_on_the_1_5_line() -> None:
    (duckdb,) = [r for r in DECLARED if r.name == "duckdb"]
    assert duckdb.specifier.contains("1.5.5")
    assert not duckdb.specifier.contains("1.6.0")
    assert not duckdb.specifier.contains("2.0.0")  # no offline extension wheels for it


def test_the_lock_pins_every_dependency_within_its_range() -> None:
    pins = locked(LOCK)
    for requirement in DECLARED:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in {LOCK.name}"
        pinned = pins[name][0]
        assert requirement.specifier.contains(pinned, prereleases=True), (requirement, pinned)


def test_the_suite_runs_on_the_locked_set() -> None:
    """What `make install` installed is the lock, every package of it that applies here."""
    wrong = {}
    for name, (pinned, _) in locked(LOCK).items():
        try:
            installed = Version(version(name))
        except PackageNotFoundError:
            installed = None
        if installed != pinned:
            wrong[name] = (str(pinned), str(installed))
    assert wrong == {}, f"installed differs from {LOCK.name} (pinned, installed): {wrong}"


def test_make_install_holds_pip_to_the_lock() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "-B", "install"], cwd=REPO, capture_output=True, text=True, check=True
    )
    installs = [line for line in dry_run.stdout.splitlines() if " install " in line]
    assert any(f"-c {LOCK.name}" in line and "-e" in line for line in installs), dry_run.stdout


def test_make_install_builds_the_openlit_venv_from_its_lock() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "-B", "install"], cwd=REPO, capture_output=True, text=True, check=True
    )
    installs = [line for line in dry_run.stdout.splitlines() if " install " in line]
    assert any(
        line.startswith(".venv-openlit/bin/pip") and f"-r {OPENLIT_LOCK.name}" in line
        for line in installs
    ), dry_run.stdout


def test_the_openlit_venv_is_its_lock() -> None:
    """Every package of requirements-openlit.lock that applies here, at its pin, and nothing
    else (aside from what `python -m venv` puts in every venv)."""
    listed = subprocess.run(
        [openlit_python(), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {
        canonicalize_name(p["name"]): Version(p["version"]) for p in json.loads(listed.stdout)
    }
    for tool in ("pip", "setuptools"):
        installed.pop(tool, None)
    pinned = {name: version for name, (version, _) in locked(OPENLIT_LOCK).items()}
    assert installed == pinned
