from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import ServerProcess
from warehouse.database import Database


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """A real DuckDB warehouse built by the migrations."""
    db = Database.open(tmp_path / "spendscope.duckdb")
    yield db
    db.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A running `spendscope serve` subprocess on free loopback ports."""
    process = ServerProcess(tmp_path / "server").start()
    yield process
    process.kill()
