"""Batch: traffic nobody waits for, priced at the batch tier of the price book.

Nobody waits for a call when its trace is marked non-interactive (a span of the trace
carries `spendscope.interactive` = false, e.g. a scheduled job's root span:
`warehouse.savings.recorded`) or when it belongs to no user session (no `session.id`
reaches it). Such calls, unless already on the batch tier, are priced at the batch price
in effect at their start: the catalog's batch price where it has one (genai-prices'
`processing: batch` variant), else 50% of standard, the providers' published Batch API
discount (`warehouse.pricing.tiers`, flagged as assumed). Self-hosted calls (a GPU share)
and calls without a token price are left out: batch is a provider's API price.
"""

from __future__ import annotations

from warehouse.savings.recorded import CALLS_TABLE

BATCH_TABLE = "savings_batch"

STAGE = f"""
CREATE OR REPLACE TEMP TABLE {BATCH_TABLE} AS
SELECT * REPLACE ('batch' AS price_tier)
FROM {CALLS_TABLE}
WHERE (non_interactive OR session_id IS NULL)
  AND price_tier IS DISTINCT FROM 'batch'
  AND priced AND price_source <> 'gpu' AND NOT no_usage
"""

ASSUMPTIONS = (
    "calls nobody waits for: traces marked spendscope.interactive = false, and calls "
    "outside user sessions",
    "the batch API accepts these calls unchanged (same model, same tokens) and its "
    "completion window (up to 24 hours) is acceptable",
)
