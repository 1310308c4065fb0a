"""Opening the warehouse: migrate, then hold the one DuckDB connection of the process.

DuckDB lets one process open a database file read-write; the serving process owns it.
Jobs and API requests take their own cursors from `Database.cursor()`, which share the
same database instance (and so see each other's commits), and its memory limit: DuckDB's
own default is 80 % of the machine's memory, so one runaway query could take the machine;
with a limit it fails with an out-of-memory error instead (and spills what it can to disk).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import duckdb
from sqlalchemy.exc import OperationalError

from warehouse.store import lake, migrate
from warehouse.store.lake import LakeTarget

log = logging.getLogger(__name__)


class DatabaseInUse(RuntimeError):
    """Another process holds the database file (DuckDB allows one writer process)."""


class DataDirectoryUnusable(RuntimeError):
    """The data directory cannot be created or written (read-only, full, no permission)."""


def check_writable(directory: Path) -> None:
    """Create `directory` if needed and write a probe file in it; DataDirectoryUnusable
    names the directory and the reason when that fails."""
    probe = directory / f".spendscope-write-probe-{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"probe")
        probe.unlink()
    except OSError as exc:
        raise DataDirectoryUnusable(
            f"the data directory {directory} is not writable: {exc.strerror or exc}"
        ) from exc


class Database:
    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        path: Path | None,
        lake_target: LakeTarget | None = None,
    ) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self.path = path
        # Set when the warehouse is a lake (warehouse.store.lake) rather than a file.
        self.lake = lake_target

    @classmethod
    def open(
        cls, path: Path, *, run_migrations: bool = True, memory_limit_bytes: int | None = None
    ) -> Database:
        """Migrate and open `path`; `memory_limit_bytes` caps what DuckDB's buffer manager
        holds for the whole process (None: DuckDB's default)."""
        check_writable(path.parent)
        try:
            if run_migrations:
                migrate.upgrade(path)
            config: dict[str, str | bool | int | float | list[str]] = {}
            if memory_limit_bytes is not None:
                config["memory_limit"] = f"{memory_limit_bytes}B"
            connection = duckdb.connect(str(path), config=config)
        except (duckdb.IOException, OperationalError) as exc:
            if "lock" not in str(exc).lower():
                raise
            raise DatabaseInUse(
                f"{path} is in use by another process (is `spendscope serve` running on it?)"
            ) from exc
        connection.execute("SET TimeZone = 'UTC'")
        return cls(connection, path)

    @classmethod
    def open_lake(
        cls,
        target: LakeTarget,
        *,
        run_migrations: bool = True,
        memory_limit_bytes: int | None = None,
    ) -> Database:
        """Migrate the lake `target` (one node at a time) and attach it; many processes may
        hold the same lake open at once."""
        if "://" not in target.data_path:
            check_writable(Path(target.data_path))
        try:
            if run_migrations:
                lake.upgrade(target)
            connection = duckdb.connect(config=lake.connection_config(memory_limit_bytes))
            lake.attach(connection, target)
        except (duckdb.IOException, duckdb.ConnectionException, OperationalError) as exc:
            raise lake.LakeUnavailable(f"the lake {target.url} cannot be opened: {exc}") from exc
        lake.use_read_views(connection)
        connection.execute("SET TimeZone = 'UTC'")
        return cls(connection, None, target)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection to the same database instance, for one thread's use."""
        with self._lock:
            cursor = self._connection.cursor()
        cursor.execute("SET TimeZone = 'UTC'")
        if self.lake is not None:
            cursor.execute(f"USE {lake.CATALOG}")
            lake.use_read_views(cursor)
        return cursor

    def close(self) -> None:
        with self._lock:
            self._connection.close()
