"""Filling the live ledger at start-up from the warehouse, so a restart forgets no spend.

1. What the pricing job priced (`call_costs` with the attribution of `model_calls`): every
   call since the start of the previous UTC month, and every call of the sessions active
   within `SESSION_HORIZON`, summed per (tenant, session, feature, day) in DuckDB.
2. The spans the pricing job has not reached (ingest batches after its watermark): fed to
   the ledger as the writer feeds it, priced with the price book in memory.

Run before the span writer accepts anything, so nothing is counted by both.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pyarrow as pa

from warehouse.detection.budgets import period_bounds
from warehouse.ledger.feed import COLUMNS, LedgerFeed
from warehouse.ledger.ledger import SESSION_HORIZON, Dimensions
from warehouse.pricing.job import NAME as PRICING_JOB
from warehouse.pricing.job import current_book

CHUNK_ROWS = 50_000

PRICED = """
WITH active AS (
    SELECT DISTINCT coalesce(tenant_id, '') AS tenant, session_id FROM model_calls
    WHERE start_time >= $horizon AND session_id IS NOT NULL
)
SELECT m.tenant_id, m.session_id, m.feature, date_trunc('day', c.start_time) AS day,
       sum(c.cost_usd), count(*), count(*) FILTER (WHERE c.cost_usd IS NULL)
FROM call_costs c JOIN model_calls m USING (trace_id, span_id)
WHERE c.start_time >= $since
   OR (coalesce(m.tenant_id, ''), m.session_id) IN (SELECT tenant, session_id FROM active)
GROUP BY ALL
"""

UNPRICED = """
SELECT trace_id, span_id, parent_span_id, epoch_ns(start_time) AS start_ns,
       {columns}
FROM spans WHERE batch_id > $watermark
ORDER BY batch_id
"""


def seed(cursor: duckdb.DuckDBPyConnection, feed: LedgerFeed, now: dt.datetime) -> int:
    """Fill `feed`'s ledger (emptied first) from the warehouse; returns the calls counted."""
    now = now.replace(tzinfo=None)
    ledger = feed.ledger
    ledger.clear()
    feed.use_book(current_book(cursor))
    month = period_bounds("month", now)[0]
    since = period_bounds("month", month - dt.timedelta(days=1))[0]
    rows = cursor.execute(PRICED, {"horizon": now - SESSION_HORIZON, "since": since}).fetchall()
    counted = 0
    for tenant, session, feature, day, spend, calls, unpriced in rows:
        priced = calls - unpriced
        dims = Dimensions(tenant, session, feature)
        if priced:
            ledger.credit(dims, day, Decimal(spend), calls=priced)
        if unpriced:
            ledger.credit(dims, day, None, calls=unpriced)
        counted += calls
    row = cursor.execute("SELECT watermark FROM job_state WHERE name = ?", [PRICING_JOB]).fetchone()
    rest = [c for c in COLUMNS if c not in ("trace_id", "span_id", "parent_span_id", "start_ns")]
    reader = cursor.execute(
        UNPRICED.format(columns=", ".join(rest)), {"watermark": row[0] if row else 0}
    ).fetch_record_batch(CHUNK_ROWS)
    for batch in reader:
        counted += feed.record(pa.Table.from_batches([batch]))
    ledger.seeded_at = now
    ledger.prune(now)
    return counted
