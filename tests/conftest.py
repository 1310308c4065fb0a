from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sample_data.harness.server import SMALL_MAX_BODY_BYTES, ServerProcess
from warehouse.store.database import Database

# The temporary PostgreSQL cluster of the lake tests (postgres_cluster, lake_catalog).
pytest_plugins = ["tests.support.postgres"]


@pytest.fixture(autouse=True)
def _no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exporters read OTEL_EXPORTER_OTLP_* at construction: the developer's shell must not
    change what a test sends (tests that need one set it themselves)."""
    for key in list(os.environ):
        if key.startswith("OTEL_"):
            monkeypatch.delenv(key)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """A real DuckDB warehouse built by the migrations."""
    db = Database.open(tmp_path / "spendscope.duckdb")
    yield db
    db.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A running `spendscope serve` subprocess on free loopback ports."""
    with ServerProcess(tmp_path / "server") as process:
        yield process


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One loopback server without tokens, with a small body limit, for every test that can
    share it: such tests use their own trace ids and compare metric deltas, never totals.
    At the end, the server must not have logged one unhandled exception, whatever was sent."""
    with ServerProcess(
        tmp_path_factory.mktemp("shared"),
        env={"SPENDSCOPE_MAX_BODY_BYTES": str(SMALL_MAX_BODY_BYTES)},
    ) as process:
        yield process
        log = process.log_path.read_text(errors="replace")
        assert "Traceback" not in log, log[-5000:]
