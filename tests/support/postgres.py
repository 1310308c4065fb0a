"""A throwaway PostgreSQL 15 cluster for the tests of the lake backend (DuckLake's catalog).

`temporary_cluster()` runs `initdb` from the installed binaries (/usr/lib/postgresql/15/bin)
into a fresh temporary directory, starts the server on a free loopback port with its unix
socket inside that directory and trust authentication, and stops it (immediate shutdown) and
removes the directory afterwards. PostgreSQL refuses to run as root: as root, the cluster's
processes run as the `postgres` system user (or `nobody`) and the directory is theirs.

Where the binaries are missing, `require_binaries()` skips the calling test with the reason,
or fails it when SPENDSCOPE_E2E_REQUIRED=1 (`.ci/run` sets it). The fixtures: `postgres_cluster`
(one per session), `lake_catalog` (a fresh catalog database in it for each test), `lake_url`
(the SPENDSCOPE_WAREHOUSE value of that lake) and `lake_database` (the lake, migrated).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from sample_data.harness.server import free_port
from warehouse.store import lake
from warehouse.store.database import Database

BIN_DIR = Path(os.environ.get("SPENDSCOPE_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"
_START_TIMEOUT_SECONDS = 60
_names = itertools.count(1)


@dataclass(frozen=True)
class PostgresCluster:
    """A running cluster: `host` and `port` for TCP clients, `socket_dir` for local ones."""

    root: Path
    host: str
    port: int
    socket_dir: Path
    run_as: int | None  # the uid its processes run as (None: the current user)

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection string (the form `ducklake:postgres:` takes)."""
        return f"dbname={dbname} host={self.host} port={self.port} user={SUPERUSER}"

    def warehouse_url(self, dbname: str) -> str:
        """The SPENDSCOPE_WAREHOUSE value for a lake whose catalog is `dbname`."""
        return f"ducklake:postgres:{self.dsn(dbname)}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run `sql` through psql and return its unaligned output."""
        command = [str(BIN_DIR / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]
        command += ["-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER, dbname]
        return _run(command, self.run_as)

    def create_database(self, prefix: str = "lake") -> str:
        """A new empty database; its name."""
        name = f"{prefix}_{os.getpid()}_{next(_names)}"
        self.psql(f'CREATE DATABASE "{name}"')
        return name


def binaries_present() -> bool:
    return all((BIN_DIR / tool).exists() for tool in ("initdb", "pg_ctl", "psql", "postgres"))


def require_binaries() -> None:
    """Skip (or, under SPENDSCOPE_E2E_REQUIRED=1, fail) the calling test without PostgreSQL."""
    if binaries_present():
        return
    missing = (
        f"PostgreSQL 15 server binaries are missing from {BIN_DIR}: "
        "`apt-get install -y postgresql-15` (`.ci/run` does it)"
    )
    if os.environ.get("SPENDSCOPE_E2E_REQUIRED") == "1":
        pytest.fail(missing)
    pytest.skip(missing)


def _cluster_user() -> int | None:
    """The uid to run the cluster as: None when not root, else `postgres` (or `nobody`)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name).pw_uid
    raise RuntimeError("running as root and neither a postgres nor a nobody user exists")


def _run(command: Sequence[str], uid: int | None) -> str:
    kwargs: dict[str, object] = {}
    if uid is not None:
        kwargs = {"user": uid, "group": pwd.getpwuid(uid).pw_gid, "extra_groups": []}
    result = subprocess.run(
        list(command),
        capture_output=True,
        text=True,
        timeout=_START_TIMEOUT_SECONDS,
        cwd="/",
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({result.returncode}): {result.stderr.strip()}")
    return str(result.stdout)


@contextlib.contextmanager
def temporary_cluster(listen_addresses: str = "127.0.0.1") -> Iterator[PostgresCluster]:
    """Start a fresh cluster (initdb, pg_ctl start); stop and remove it when the block ends.

    `listen_addresses` is PostgreSQL's: the first one is the cluster's `host` (give
    `127.0.0.1,10.0.0.1` to reach it from a network namespace as well)."""
    require_binaries()
    uid = _cluster_user()
    root = Path(tempfile.mkdtemp(prefix="spendscope-pg-"))
    try:
        if uid is not None:
            os.chown(root, uid, pwd.getpwuid(uid).pw_gid)
        data, sockets, logfile = root / "data", root / "sockets", root / "postgres.log"
        _run([str(BIN_DIR / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
              "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], uid)  # fmt: skip
        _run(["mkdir", "-p", str(sockets)], uid)
        # Trust from any address too (initdb's is loopback only): nodes in network namespaces.
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all all trust\n")
        port = free_port()
        options = (
            f"-p {port} -k {sockets} -c listen_addresses={listen_addresses} "
            "-c fsync=off -c max_connections=200"
        )
        _run([str(BIN_DIR / "pg_ctl"), "-D", str(data), "-l", str(logfile), "-o", options,
              "-w", "-t", str(_START_TIMEOUT_SECONDS), "start"], uid)  # fmt: skip
        try:
            host = listen_addresses.split(",")[0].strip()
            yield PostgresCluster(root, host, port, sockets, uid)
        finally:
            _run([str(BIN_DIR / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], uid)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One temporary cluster for the test session."""
    with temporary_cluster() as cluster:
        yield cluster


@pytest.fixture
def lake_catalog(postgres_cluster: PostgresCluster) -> str:
    """A fresh, empty catalog database in the session's cluster; its name."""
    return postgres_cluster.create_database()


@pytest.fixture
def lake_url(postgres_cluster: PostgresCluster, lake_catalog: str) -> str:
    """SPENDSCOPE_WAREHOUSE for a fresh lake (its catalog: `lake_catalog`)."""
    return postgres_cluster.warehouse_url(lake_catalog)


@pytest.fixture
def lake_database(lake_url: str, tmp_path: Path) -> Iterator[Database]:
    """A migrated lake, its data files in `tmp_path / "lake-data"`."""
    database = Database.open_lake(lake.parse_target(lake_url, str(tmp_path / "lake-data")))
    yield database
    database.close()
