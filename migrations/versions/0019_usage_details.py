"""Usage details: what the catalog prices beyond text tokens, and what pricing assumed.

Spans gain the priced parts the normalizer now reads (`collector.ingest.emitters`): 1-hour
cache writes (part of `cache_write_tokens`), audio and image tokens (parts of input and
output), the normalized service tier, web search calls, and `pricing_assumption` (why a
count was guessed). Price periods gain the matching rates, the service tier they price and
the assumption behind a tier or 1-hour price the catalog does not give; call costs record the
assumptions that priced each call. Rows stored before have NULL details, priced as before.

The new rate columns are nullable: DuckDB cannot add a NOT NULL column, and the periods
stored before (retired when the price book is next resolved, `RESOLVER_VERSION` 3) have none.
Downgrading drops the columns.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

SPAN_COLUMNS = (
    ("cache_write_1h_tokens", sa.BigInteger()),
    ("input_audio_tokens", sa.BigInteger()),
    ("output_audio_tokens", sa.BigInteger()),
    ("input_image_tokens", sa.BigInteger()),
    ("output_image_tokens", sa.BigInteger()),
    ("service_tier", sa.String()),
    ("web_search_calls", sa.BigInteger()),
    ("pricing_assumption", sa.String()),
)
PERIOD_COLUMNS = (
    ("cache_write_1h_mtok", sa.Numeric(38, 18)),
    ("input_audio_mtok", sa.Numeric(38, 18)),
    ("output_audio_mtok", sa.Numeric(38, 18)),
    ("input_image_mtok", sa.Numeric(38, 18)),
    ("output_image_mtok", sa.Numeric(38, 18)),
    ("web_searches_kcount", sa.Numeric(38, 18)),
    ("service_tier", sa.String()),
    ("tier_assumption", sa.String()),
    ("cache_write_1h_assumed", sa.Boolean()),
)
COST_COLUMNS = (("pricing_assumption", sa.String()),)
TABLES = (
    ("spans", SPAN_COLUMNS),
    ("price_periods", PERIOD_COLUMNS),
    ("call_costs", COST_COLUMNS),
)


def _new_transaction() -> None:
    """DuckDB refuses to commit a transaction that both updates `spans` and alters it (0018
    updates it in the same migration run): commit what came before, go on in a new one."""
    bind = op.get_bind()
    bind.exec_driver_sql("COMMIT")
    bind.exec_driver_sql("BEGIN TRANSACTION")


def upgrade() -> None:
    _new_transaction()
    for table, columns in TABLES:
        for name, kind in columns:
            op.add_column(table, sa.Column(name, kind))


def downgrade() -> None:
    for table, columns in TABLES[::-1]:
        for name, _ in columns[::-1]:
            op.drop_column(table, name)
    _new_transaction()
