"""Call costs: what each call's cache reads saved, priced with the call.

`cache_savings_usd` is the call's cache-read tokens at the full input price of its price
period, minus what they cost (0 when nothing was read from cache, or no token price
applied). The rollups summed it from a join of every call with `price_periods`; the pricing
job has the price at hand, so it now writes it with the other cost parts, and a price
change that moves only the savings re-rolls the call like any other cost change.

Existing rows are filled in from their spans and price periods, as the rollups computed
it. Downgrading drops the column.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

FILL = """
UPDATE call_costs SET cache_savings_usd = v.savings
FROM (
    SELECT c.trace_id, c.span_id,
           coalesce(s.cache_read_tokens * p.input_mtok * 0.000001 - c.cache_read_cost_usd, 0)
               ::DECIMAL(38, 24) AS savings
    FROM call_costs c
    JOIN spans s ON s.trace_id = c.trace_id AND s.span_id = c.span_id
    LEFT JOIN price_periods p ON p.id = c.price_period_id
) v
WHERE call_costs.trace_id = v.trace_id AND call_costs.span_id = v.span_id
"""


def upgrade() -> None:
    op.add_column("call_costs", sa.Column("cache_savings_usd", sa.Numeric(38, 24)))
    op.execute(FILL)


def downgrade() -> None:
    op.drop_column("call_costs", "cache_savings_usd")
