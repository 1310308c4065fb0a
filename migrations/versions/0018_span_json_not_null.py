"""Spans: attributes, events and links are never NULL (`{}` / `[]` when empty).

DuckDB 1.5.5 copies a long string once per NULL that follows it in a column when it scans
(duckdb/duckdb#24897): one span with large events among thousands without any made every
scan of `events` take gigabytes, enough to fail the jobs and the writer. Ingest now stores
empty JSON instead of NULL (`collector.ingest.limits.span_json`); this fills in the rows
stored before. Downgrading puts the NULLs back.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

EMPTY = {"attributes": "{}", "events": "[]", "links": "[]"}


def upgrade() -> None:
    for column, empty in EMPTY.items():
        op.execute(f"UPDATE spans SET {column} = '{empty}' WHERE {column} IS NULL")


def downgrade() -> None:
    for column, empty in EMPTY.items():
        op.execute(f"UPDATE spans SET {column} = NULL WHERE {column} = '{empty}'")
