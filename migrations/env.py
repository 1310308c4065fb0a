"""Alembic environment for DuckDB: online migrations only, each in one transaction."""

from __future__ import annotations

from alembic import context
from alembic.ddl.impl import DefaultImpl
from sqlalchemy import create_engine, pool


class AlembicDuckDBImpl(DefaultImpl):
    """Alembic ships no DuckDB dialect implementation; DuckDB runs DDL in transactions."""

    __dialect__ = "duckdb"
    transactional_ddl = True


def run_migrations_online() -> None:
    # A lake (warehouse.store.lake) passes the connection it attached and translates for.
    given = context.config.attributes.get("connection")
    if given is not None:
        context.configure(connection=given, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()
        given.commit()
        return
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by warehouse.store.migrate"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
run_migrations_online()
