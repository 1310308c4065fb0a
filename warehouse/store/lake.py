"""The lake backend: the warehouse in a DuckLake whose catalog is a PostgreSQL database and
whose data files are in a shared directory (or S3-compatible storage through httpfs).

`SPENDSCOPE_WAREHOUSE=ducklake:postgres:dbname=... host=... port=... user=...` selects it
(`parse_target`); every node attaches the same lake (`attach`) as the catalog `lake` and makes
it the default, so the queries name their tables as on the embedded file. The migrations run
on it through Alembic as on the file, with their DDL translated (`warehouse.store.lake_ddl`);
Alembic's own version table holds the revision; nodes that start together and migrate at
once are told apart by DuckLake's conflict detection (`upgrade`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa
from alembic import command
from sqlalchemy import event, pool

from warehouse.store import extensions, lake_ddl
from warehouse.store.migrate import HEAD, alembic_config

log = logging.getLogger(__name__)

PREFIX = "ducklake:postgres:"
CATALOG = "lake"
MIGRATION_ATTEMPTS = 5
# The job runner's lease (warehouse.store.leadership): one row, made with the lake.
LEASE_TABLE = (
    "CREATE TABLE leader_lease (name VARCHAR NOT NULL, holder VARCHAR, expires_at TIMESTAMP, "
    "term BIGINT NOT NULL)"
)


# The schema of the read views, before `main` on the search path.
VIEWS = "deduped"
# The spans the jobs and queries read: each (trace_id, span_id) once, as first committed
# (a span retried to another node is stored twice; the earlier commit wins, and within one
# commit the earlier row), and `batch_id` is the commit's snapshot: snapshots are numbered in
# commit order across every node, so a job's watermark never passes a commit that is still
# to come (node-local batch numbers would: one node's batch 10 may commit after batch 11).
# `rowid` is the table's (DuckLake keeps a row's id for its life), as the jobs read it.
SPANS_VIEW = f"""
CREATE OR REPLACE VIEW {CATALOG}.{VIEWS}.spans AS
SELECT * REPLACE (snapshot_id AS batch_id), rowid
FROM {CATALOG}.main.spans
QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY snapshot_id, rowid) = 1
"""


class LakeSettingsError(ValueError):
    """A SPENDSCOPE_WAREHOUSE value that names no lake this build can attach."""


class LakeUnavailable(RuntimeError):
    """The lake's catalog or data path cannot be reached or used."""


@dataclass(frozen=True)
class LakeTarget:
    """A lake: its catalog's libpq connection string and where its data files go."""

    dsn: str
    data_path: str

    @property
    def url(self) -> str:
        return f"{PREFIX}{self.dsn}"


def parse_target(warehouse: str, data_path: str | None) -> LakeTarget:
    """The lake `warehouse` (`ducklake:postgres:<libpq string>`) names, its files in
    `data_path`; LakeSettingsError says what is wrong."""
    if not warehouse.startswith(PREFIX) or not warehouse[len(PREFIX) :].strip():
        raise LakeSettingsError(
            f"SPENDSCOPE_WAREHOUSE must be 'file' or '{PREFIX}dbname=... host=... port=... "
            f"user=...', got {warehouse!r}"
        )
    if not data_path:
        raise LakeSettingsError(
            "a lake needs SPENDSCOPE_LAKE_DATA_PATH: the directory (shared by every node) or "
            "s3:// prefix its data files go to"
        )
    dsn = warehouse[len(PREFIX) :].strip()
    if "'" in dsn or "'" in data_path:
        raise LakeSettingsError("the lake's connection string and data path cannot hold quotes")
    return LakeTarget(dsn=dsn, data_path=data_path.rstrip("/") + "/")


def connection_config(
    memory_limit_bytes: int | None,
) -> dict[str, str | bool | int | float | list[str]]:
    config = extensions.connection_config(extensions.extension_directory())
    if memory_limit_bytes is not None:
        config["memory_limit"] = f"{memory_limit_bytes}B"
    return config


def attach(connection: duckdb.DuckDBPyConnection, target: LakeTarget) -> None:
    """Load the extensions, attach the lake as `lake` and make it the default catalog."""
    extensions.load(connection)
    if "://" in target.data_path and not target.data_path.startswith("file://"):
        connection.execute("LOAD httpfs")
    connection.execute(
        f"ATTACH IF NOT EXISTS '{target.url}' AS {CATALOG} (DATA_PATH '{target.data_path}')"
    )
    connection.execute(f"USE {CATALOG}")


def use_read_views(connection: duckdb.DuckDBPyConnection) -> None:
    """Resolve unqualified names through the read views first (`spans` is the deduplicated
    view; every other table is itself)."""
    connection.execute(f"SET search_path = '{CATALOG}.{VIEWS},{CATALOG}.main'")


def create_read_views(connection: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the read views after a migration (a view's columns are fixed when made)."""
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {CATALOG}.{VIEWS}")
    connection.execute(SPANS_VIEW)


def _translate(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> tuple[str, Any]:
    return lake_ddl.translate(statement), parameters


@contextmanager
def _engine(target: LakeTarget) -> Iterator[sa.Engine]:
    engine = sa.create_engine(
        "duckdb:///:memory:",
        poolclass=pool.StaticPool,
        connect_args={
            "config": connection_config(None),
            "preload_extensions": list(extensions.LAKE_EXTENSIONS),
        },
    )

    # DuckLake has no INSERT ... RETURNING (Alembic's version row would use it).
    engine.dialect.insert_returning = False
    engine.dialect.insert_executemany_returning = False

    @event.listens_for(engine, "connect")
    def _attach(dbapi_connection: Any, record: Any) -> None:
        attach(dbapi_connection, target)
        dbapi_connection.execute("SET TimeZone = 'UTC'")

    event.listen(engine, "before_cursor_execute", _translate, retval=True)
    try:
        yield engine
    finally:
        engine.dispose()


def _store_tables(connection: sa.Connection) -> None:
    """The lake's own tables beside the migrations' (made once, in one transaction: of two
    nodes making them at once, one commits and the other finds them made)."""
    made = connection.exec_driver_sql(
        "SELECT count(*) FROM information_schema.tables "
        f"WHERE table_catalog = '{CATALOG}' AND table_name = 'leader_lease'"
    ).scalar()
    if made:
        return
    connection.exec_driver_sql(lake_ddl.SEQUENCES_TABLE)
    connection.exec_driver_sql(LEASE_TABLE)
    connection.exec_driver_sql("INSERT INTO leader_lease VALUES ('jobs', NULL, NULL, 0)")
    connection.commit()


def upgrade(target: LakeTarget, revision: str = HEAD) -> None:
    """Bring the lake to `revision` with the migrations (DDL translated). Nodes starting
    together may migrate at once: each migration is one transaction, DuckLake commits the
    first and refuses the others (a conflict), which then start over from the revision the
    lake is at."""
    for attempt in range(1, MIGRATION_ATTEMPTS + 1):
        try:
            with _engine(target) as engine, engine.connect() as connection:
                _store_tables(connection)
                config = alembic_config(Path("lake"))
                config.attributes["connection"] = connection
                log.info("migrating the lake %s to %s", target.dsn, revision)
                command.upgrade(config, revision)
                raw = connection.connection.dbapi_connection
                assert raw is not None
                create_read_views(raw)  # type: ignore[arg-type]
                connection.commit()
            return
        except (sa.exc.DBAPIError, duckdb.TransactionException) as exc:
            if "conflict" not in str(exc).lower() or attempt == MIGRATION_ATTEMPTS:
                raise
            log.info("another node migrated the lake meanwhile; again (%s)", exc)
            time.sleep(0.2 * attempt)


def downgrade(target: LakeTarget, revision: str) -> None:
    with _engine(target) as engine, engine.connect() as connection:
        config = alembic_config(Path("lake"))
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def lake_stats(cursor: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The lake's live data files and their bytes, the rows inlined in the catalog and the
    snapshots kept (for /metrics and the compaction's log)."""
    files = cursor.execute(
        f"SELECT coalesce(sum(file_count), 0), coalesce(sum(file_size_bytes), 0) "
        f"FROM ducklake_table_info('{CATALOG}')"
    ).fetchone()
    metadata = f"__ducklake_metadata_{CATALOG}"
    tables = cursor.execute(
        f"SELECT table_name FROM {metadata}.ducklake_inlined_data_tables"
    ).fetchall()
    inlined = sum(
        int(row[0])
        for (name,) in tables
        if (row := cursor.execute(f"SELECT count(*) FROM {metadata}.{name}").fetchone())
    )
    snapshots = cursor.execute(f"SELECT count(*) FROM {metadata}.ducklake_snapshot").fetchone()
    assert files is not None and snapshots is not None
    return {
        "data_files": int(files[0]),
        "data_bytes": int(files[1]),
        "inlined_rows": inlined,
        "snapshots": int(snapshots[0]),
    }
