"""Spans: `time_to_first_token_ms`, how long a streamed model call took to its first chunk.

Read at ingest from the attribute the instrumentation set (`collector.ingest.conventions`,
TIME_TO_FIRST_TOKEN: the OTel GenAI `gen_ai.response.time_to_first_chunk`, OpenLIT's
`gen_ai.server.time_to_first_token`, vLLM's `gen_ai.latency.time_to_first_token`, the
Vercel AI SDK's `ai.response.msToFirstChunk`), in milliseconds. Nullable: calls that did not
stream, spans stored before, and values out of bounds (negative, not finite, longer than
the span) have none. Downgrading drops the column.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("spans", sa.Column("time_to_first_token_ms", sa.Double()))


def downgrade() -> None:
    op.drop_column("spans", "time_to_first_token_ms")
