"""The import contract of pyproject.toml ([tool.importlinter], run by `make lint`) bites.

The packages and the config are copied to a temporary directory once. Each case adds one
forbidden import to one module of the copy (or a subpackage the layers do not place), runs
the real `lint-imports` on it, and puts the module back: the named contract must be broken,
naming the offending import. The untouched copy keeps every contract, so the failures are
the added imports'.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.paths import REPO

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
PACKAGES = CONFIG["root_packages"]
CONTRACTS = {contract["id"] for contract in CONFIG["contracts"]}


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """The real command on the copy: its packages, not the checkout's, come first on the path."""
    selected = [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *selected],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextmanager
def appended(path: Path, line: str) -> Iterator[None]:
    original = path.read_text()
    path.write_text(f"{original}\n{line}  # noqa\n")
    try:
        yield
    finally:
        path.write_text(original)


def test_the_checkout_keeps_every_contract(copy: Path) -> None:
    done = lint_imports(copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in done.stdout


# (contract, module file, the line added to it, what the report must name)
VIOLATIONS = [
    ("warehouse-standalone", "warehouse/store/database.py", "import collector", "-> collector"),
    ("warehouse-standalone", "warehouse/rollups/job.py", "import fastapi", "-> fastapi"),
    ("warehouse-standalone", "warehouse/queries/costs.py", "import httpx", "-> httpx"),
    ("warehouse-core-leaf", "warehouse/core/clock.py", "import sample_data", "-> sample_data"),
    ("warehouse-layers", "warehouse/core/rows.py", "import warehouse.store", "-> warehouse.store"),
    (
        "warehouse-layers",
        "warehouse/detection/signals.py",
        "from warehouse.incidents import policy",
        "-> warehouse.incidents.policy",
    ),
    ("dashboard-over-http", "dashboard/money.py", "import warehouse.store", "-> warehouse"),
    ("collector-without-dashboard", "collector/service.py", "import dashboard", "-> dashboard"),
    ("collector-layers", "collector/ingest/columns.py", "import collector.api", "-> collector.api"),
    ("collector-layers", "collector/auth.py", "import collector.settings", "collector.settings"),
    ("bench-not-tests", "bench/ingest.py", "import tests.support.paths", "-> tests"),
    ("bench-not-tests", "sample_data/harness/otlp.py", "import tests", "-> tests"),
    ("tests-not-bench", "tests/support/genai_spans.py", "import bench.ingest", "-> bench"),
]


def test_every_contract_has_a_violation_case() -> None:
    assert {case[0] for case in VIOLATIONS} == CONTRACTS


@pytest.mark.parametrize(("contract", "module", "line", "named"), VIOLATIONS)
def test_a_forbidden_import_breaks_its_contract(
    copy: Path, contract: str, module: str, line: str, named: str
) -> None:
    with appended(copy / module, line):
        done = lint_imports(copy, contract)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0 kept, 1 broken." in done.stdout, done.stdout
    assert named in done.stdout, done.stdout


def test_a_subpackage_outside_the_layers_breaks_them(copy: Path) -> None:
    unplaced = copy / "warehouse" / "forecasts"
    unplaced.mkdir()
    (unplaced / "__init__.py").write_text('"""Not placed."""\n')
    try:
        done = lint_imports(copy, "warehouse-layers")
    finally:
        shutil.rmtree(unplaced)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "warehouse.forecasts" in done.stdout, done.stdout
