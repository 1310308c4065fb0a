"""Bring a warehouse database to a schema revision with the Alembic migrations."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations

log = logging.getLogger(__name__)

HEAD = "head"


def alembic_config(database_path: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", f"duckdb:///{database_path}")
    return config


def upgrade(database_path: Path, revision: str = HEAD) -> None:
    """Create or upgrade the database file (and its directory) to `revision`."""
    database_path.parent.mkdir(parents=True, exist_ok=True)
    log.info("migrating %s to %s", database_path, revision)
    command.upgrade(alembic_config(database_path), revision)


def downgrade(database_path: Path, revision: str) -> None:
    log.info("downgrading %s to %s", database_path, revision)
    command.downgrade(alembic_config(database_path), revision)
