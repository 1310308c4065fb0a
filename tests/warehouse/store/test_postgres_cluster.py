"""The temporary PostgreSQL cluster the lake tests stand on, and the offline extensions.

The cluster is real (initdb + pg_ctl from /usr/lib/postgresql/15/bin), reachable over TCP
without a password, and gone when its block ends; DuckDB loads ducklake and postgres from
their wheels without a download and a DuckLake on it holds what is written to it.
"""

from __future__ import annotations

import socket
from pathlib import Path

import duckdb
import pytest

from tests.support.postgres import PostgresCluster, temporary_cluster
from warehouse.store import extensions


def test_a_cluster_starts_answers_and_is_removed_afterwards() -> None:
    with temporary_cluster() as cluster:
        root, port = cluster.root, cluster.port
        assert (root / "data" / "PG_VERSION").read_text().strip() == "15"
        name = cluster.create_database()
        assert cluster.psql("SELECT current_database()", name).strip() == name
        with socket.create_connection((cluster.host, port), timeout=5):
            pass
    assert not root.exists()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_the_extensions_load_offline_and_a_lake_keeps_its_rows(
    postgres_cluster: PostgresCluster, lake_catalog: str, tmp_path: Path
) -> None:
    directory = extensions.extension_directory(tmp_path / "extensions")
    connection = duckdb.connect(config=extensions.connection_config(directory))
    extensions.load(connection)
    loaded = connection.execute(
        "SELECT extension_name, install_path FROM duckdb_extensions() WHERE loaded"
    ).fetchall()
    paths = dict(loaded)
    assert str(directory) in paths["ducklake"]
    assert str(directory) in paths["postgres_scanner"]
    url = f"ducklake:postgres:{postgres_cluster.dsn(lake_catalog)}"
    connection.execute(f"ATTACH '{url}' AS lake (DATA_PATH '{tmp_path / 'lake'}/')")
    connection.execute("CREATE TABLE lake.t (a INTEGER)")
    connection.execute("INSERT INTO lake.t SELECT * FROM range(1000)")
    connection.close()
    again = duckdb.connect(config=extensions.connection_config(directory))
    extensions.load(again)
    again.execute(f"ATTACH '{url}' AS lake (DATA_PATH '{tmp_path / 'lake'}/')")
    assert again.execute("SELECT count(*), sum(a) FROM lake.t").fetchone() == (1000, 499500)
    # The catalog lives in PostgreSQL: its tables are there.
    tables = postgres_cluster.psql(
        "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'ducklake_%'",
        lake_catalog,
    )
    assert int(tables) > 5
