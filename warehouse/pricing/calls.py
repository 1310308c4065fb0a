"""Pricing model calls in DuckDB SQL: which calls to price (the temp table `targets`), their
exact cost under the one price period that holds each, and the upsert into `call_costs` that
raises `priced_seq` only where something changed. See `warehouse.pricing.job` for the rules.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import duckdb

from warehouse.store.numbering import next_values

log = logging.getLogger(__name__)

# A model call's price key, from its span `s`.
KEY_PROVIDER = "coalesce(s.provider, '')"
KEY_MODEL = "coalesce(nullif(s.response_model, ''), nullif(s.request_model, ''), '')"

# A call `c` (TARGET_COLUMNS) priced under a period `p` (`price_periods`): the parts of its
# cost, exact DECIMAL arithmetic. Shared with the what-ifs (`warehouse.savings.reprice`).
COST_PARTS = """
           greatest(c.input_tokens - c.cache_read_tokens - c.cache_write_tokens
                    - c.input_audio_tokens - c.input_image_tokens, 0)
               * p.input_mtok * 0.000001
               + c.input_audio_tokens * coalesce(p.input_audio_mtok, p.input_mtok) * 0.000001
               + c.input_image_tokens * coalesce(p.input_image_mtok, p.input_mtok) * 0.000001
               AS input_cost,
           c.cache_read_tokens * p.cache_read_mtok * 0.000001 AS cache_read_cost,
           (c.cache_write_tokens - c.cache_write_1h_tokens) * p.cache_write_mtok * 0.000001
               + c.cache_write_1h_tokens
                   * coalesce(p.cache_write_1h_mtok, p.cache_write_mtok) * 0.000001
               AS cache_write_cost,
           greatest(c.output_tokens - c.reasoning_tokens - c.output_audio_tokens
                    - c.output_image_tokens, 0) * p.output_mtok * 0.000001
               + c.reasoning_tokens * p.reasoning_mtok * 0.000001
               + c.output_audio_tokens * coalesce(p.output_audio_mtok, p.output_mtok) * 0.000001
               + c.output_image_tokens * coalesce(p.output_image_mtok, p.output_mtok) * 0.000001
               AS output_cost,
           p.requests_kcount * 0.001
               + c.web_search_calls * coalesce(p.web_searches_kcount, 0) * 0.001
               AS request_cost
"""

# The period `p` of a price key holds the call `c`: its tier, date range, UTC time-of-day
# window and input-token band. Periods never overlap, so at most one holds a call.
PERIOD_HOLDS_CALL = """
        AND p.service_tier IS NOT DISTINCT FROM c.price_tier
        AND (p.effective_from IS NULL OR c.start_time >= p.effective_from)
        AND (p.effective_to IS NULL OR c.start_time < p.effective_to)
        AND (p.time_of_day_from IS NULL OR c.start_time::TIME >= p.time_of_day_from)
        AND (p.time_of_day_to IS NULL OR c.start_time::TIME < p.time_of_day_to)
        AND c.input_tokens >= p.min_input_tokens
        AND (p.max_input_tokens IS NULL OR c.input_tokens < p.max_input_tokens)
"""

# Prices the calls in the temp table `targets` (TARGET_COLUMNS); upserts only what changes.
_COST_COLUMNS = """
    trace_id, span_id, start_time, provider, model, priced, unpriced_reason, cost_usd,
    input_cost_usd, cache_read_cost_usd, cache_write_cost_usd, output_cost_usd,
    request_cost_usd, price_period_id, price_source, override_id, reported_cost_usd,
    attributed_batch_id, priced_seq, priced_at, cache_savings_usd, pricing_assumption
"""
_NEW_VALUES = ", ".join(f"excluded.{column.strip()}" for column in _COST_COLUMNS.split(","))
# A MERGE on the key (one statement for the file and the lake, which has no key to conflict
# on: `warehouse.store.upsert`); the priced rows are `excluded`, as in an ON CONFLICT.
PRICE_CALLS = f"""
MERGE INTO call_costs USING (
WITH matched AS (
    SELECT c.*, p.id AS period_id, p.source, p.override_id, p.input_mtok,
           p.tier_assumption,
           p.cache_write_1h_assumed AND c.cache_write_1h_tokens > 0 AS one_hour_assumed,
           -- What the span leaves unsaid that this price tells apart: the TTL of its cache
           -- writes (priced at the 5-minute rate), audio on a speech model (priced as text).
           c.ttl_unsaid AND p.cache_write_1h_mtok <> p.cache_write_mtok AS ttl_unknown,
           c.audio_unsaid AND p.output_audio_mtok <> p.output_mtok AS audio_unknown,
           (g.cost_nanos * 0.000000001)::DECIMAL(38, 24) AS gpu_cost,
           {COST_PARTS}
    FROM targets c
    LEFT JOIN gpu_call_costs g ON g.trace_id = c.trace_id AND g.span_id = c.span_id
    LEFT JOIN price_periods p
        ON g.trace_id IS NULL AND NOT c.no_usage
        AND p.retired_at IS NULL
        AND p.provider = c.provider AND p.model = c.model
        {PERIOD_HOLDS_CALL}
)
SELECT trace_id, span_id, start_time, provider, model,
       period_id IS NOT NULL OR gpu_cost IS NOT NULL,
       CASE WHEN period_id IS NOT NULL OR gpu_cost IS NOT NULL THEN NULL
            WHEN no_usage THEN 'no_usage' ELSE 'no_price' END,
       -- Both sides DECIMAL(38, 24): coalesce would otherwise round to a common scale.
       coalesce(gpu_cost,
                (input_cost + cache_read_cost + cache_write_cost + output_cost + request_cost)
                    ::DECIMAL(38, 24)),
       input_cost::DECIMAL(38, 24), cache_read_cost::DECIMAL(38, 24),
       cache_write_cost::DECIMAL(38, 24), output_cost::DECIMAL(38, 24),
       request_cost::DECIMAL(38, 24),
       period_id, CASE WHEN gpu_cost IS NOT NULL THEN 'gpu' ELSE source END, override_id,
       reported_cost_usd, attributed_batch_id,
       $seq, $now,
       -- What the cache reads would have cost at the full input price, minus their cost.
       coalesce(cache_read_tokens * input_mtok * 0.000001
                    - cache_read_cost::DECIMAL(38, 24), 0)::DECIMAL(38, 24),
       -- What was assumed: by the normalizer, then by the price (a tier or 1-hour rate the
       -- catalog does not give; a tier no price list has).
       nullif(concat_ws(',', span_assumption,
                        CASE WHEN period_id IS NOT NULL THEN tier_assumption END,
                        CASE WHEN period_id IS NOT NULL AND one_hour_assumed
                             THEN 'cache_write_1h_price_assumed' END,
                        CASE WHEN period_id IS NOT NULL THEN tier_priced_standard END,
                        CASE WHEN ttl_unknown THEN 'cache_ttl_unknown' END,
                        CASE WHEN audio_unknown THEN 'audio_not_reported' END), '')
FROM matched
) AS excluded({_COST_COLUMNS})
ON call_costs.trace_id = excluded.trace_id AND call_costs.span_id = excluded.span_id
WHEN NOT MATCHED THEN INSERT ({_COST_COLUMNS}) VALUES ({_NEW_VALUES})
WHEN MATCHED AND (
    call_costs.cost_usd IS DISTINCT FROM excluded.cost_usd
    OR call_costs.cache_savings_usd IS DISTINCT FROM excluded.cache_savings_usd
    OR call_costs.priced IS DISTINCT FROM excluded.priced
    OR call_costs.attributed_batch_id IS DISTINCT FROM excluded.attributed_batch_id
    OR call_costs.price_period_id IS DISTINCT FROM excluded.price_period_id
    OR call_costs.price_source IS DISTINCT FROM excluded.price_source
    OR call_costs.override_id IS DISTINCT FROM excluded.override_id
    OR call_costs.unpriced_reason IS DISTINCT FROM excluded.unpriced_reason
    OR call_costs.reported_cost_usd IS DISTINCT FROM excluded.reported_cost_usd
    OR call_costs.pricing_assumption IS DISTINCT FROM excluded.pricing_assumption
) THEN UPDATE SET
    start_time = excluded.start_time, provider = excluded.provider, model = excluded.model,
    priced = excluded.priced, unpriced_reason = excluded.unpriced_reason,
    cost_usd = excluded.cost_usd, input_cost_usd = excluded.input_cost_usd,
    cache_read_cost_usd = excluded.cache_read_cost_usd,
    cache_write_cost_usd = excluded.cache_write_cost_usd,
    output_cost_usd = excluded.output_cost_usd, request_cost_usd = excluded.request_cost_usd,
    price_period_id = excluded.price_period_id, price_source = excluded.price_source,
    override_id = excluded.override_id, reported_cost_usd = excluded.reported_cost_usd,
    attributed_batch_id = excluded.attributed_batch_id,
    cache_savings_usd = excluded.cache_savings_usd,
    pricing_assumption = excluded.pricing_assumption,
    priced_seq = CASE
        WHEN call_costs.cost_usd IS DISTINCT FROM excluded.cost_usd
            OR call_costs.priced IS DISTINCT FROM excluded.priced
            OR call_costs.attributed_batch_id IS DISTINCT FROM excluded.attributed_batch_id
            OR call_costs.cache_savings_usd IS DISTINCT FROM excluded.cache_savings_usd
        THEN excluded.priced_seq ELSE call_costs.priced_seq END,
    priced_at = excluded.priced_at
"""

# A model call to price: its key, usage and attribution batch. Periods never overlap (by
# construction in `warehouse.pricing.pricebook`), so each call joins at most one.
TARGET_COLUMNS = f"""
    trace_id, span_id, s.start_time,
    {KEY_PROVIDER} AS provider, {KEY_MODEL} AS model,
    s.input_tokens IS NULL AND s.output_tokens IS NULL AS no_usage,
    coalesce(s.input_tokens, 0) AS input_tokens,
    coalesce(s.cache_read_tokens, 0) AS cache_read_tokens,
    coalesce(s.cache_write_tokens, 0) AS cache_write_tokens,
    coalesce(s.output_tokens, 0) AS output_tokens,
    least(coalesce(s.reasoning_tokens, 0), coalesce(s.output_tokens, 0)) AS reasoning_tokens,
    least(coalesce(s.cache_write_1h_tokens, 0), coalesce(s.cache_write_tokens, 0))
        AS cache_write_1h_tokens,
    coalesce(s.input_audio_tokens, 0) AS input_audio_tokens,
    coalesce(s.input_image_tokens, 0) AS input_image_tokens,
    coalesce(s.output_audio_tokens, 0) AS output_audio_tokens,
    coalesce(s.output_image_tokens, 0) AS output_image_tokens,
    coalesce(s.web_search_calls, 0) AS web_search_calls,
    -- NULL: not reported, unlike 0 (for the assumption flags of PRICE_CALLS).
    s.cache_write_1h_tokens IS NULL AND coalesce(s.cache_write_tokens, 0) > 0 AS ttl_unsaid,
    s.input_audio_tokens IS NULL AND s.output_audio_tokens IS NULL AS audio_unsaid,
    -- The tier priced apart (`warehouse.pricing.tiers`); default and NULL are standard.
    CASE WHEN s.service_tier IN ('flex', 'priority', 'batch') THEN s.service_tier END
        AS price_tier,
    CASE WHEN s.service_tier = 'scale' THEN 'tier_priced_standard' END AS tier_priced_standard,
    s.pricing_assumption AS span_assumption,
    s.reported_cost_usd, m.attributed_batch_id
"""

FRESH_RANGE = """
SELECT min(start_time), max(start_time) FROM model_calls
WHERE attributed_batch_id > $low AND attributed_batch_id <= $high
"""

# The start-time bounds let the scan of `spans` skip row groups by their zone maps.
FRESH_TARGETS = f"""
CREATE OR REPLACE TEMP TABLE targets AS
SELECT {TARGET_COLUMNS}
FROM model_calls m JOIN spans s USING (trace_id, span_id)
WHERE m.attributed_batch_id > $low AND m.attributed_batch_id <= $high
  AND s.start_time >= $first AND s.start_time <= $last
"""

REPRICE_TARGETS = f"""
CREATE OR REPLACE TEMP TABLE targets AS
SELECT {TARGET_COLUMNS}
FROM call_costs c
JOIN model_calls m USING (trace_id, span_id)
JOIN spans s USING (trace_id, span_id)
WHERE c.provider = $provider AND c.model = $model
  AND ($since IS NULL OR (c.start_time >= $since AND s.start_time >= $since))
"""

NEW_KEYS = """
SELECT DISTINCT provider, model FROM targets t
WHERE NOT EXISTS (
    SELECT 1 FROM price_keys k WHERE k.provider = t.provider AND k.model = t.model
)
ORDER BY 1, 2
"""


@dataclass(frozen=True)
class RepriceResult:
    request_id: int
    provider: str
    model: str
    since: dt.datetime | None
    calls_changed: int


def next_seq(cursor: duckdb.DuckDBPyConnection) -> int:
    """The `priced_seq` of this pricing transaction."""
    return next_values(cursor, "call_costs_priced_seq")[0]


def stage_fresh(cursor: duckdb.DuckDBPyConnection, low: int, high: int) -> bool:
    """Stage the model calls attributed in batches (low, high] as `targets`; False (nothing
    staged) when there are none."""
    bounds = cursor.execute(FRESH_RANGE, {"low": low, "high": high}).fetchone()
    if bounds is None or bounds[0] is None:
        return False
    cursor.execute(FRESH_TARGETS, {"low": low, "high": high, "first": bounds[0], "last": bounds[1]})
    return True


def new_keys(cursor: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """The (provider, model) keys of the staged calls that were never resolved."""
    return [(provider, model) for provider, model in cursor.execute(NEW_KEYS).fetchall()]


def price_targets(cursor: duckdb.DuckDBPyConnection, seq: int, now: dt.datetime) -> int:
    """Price the staged calls, then drop the stage; returns the rows written."""
    try:
        cursor.execute(PRICE_CALLS, {"seq": seq, "now": now})
        row = cursor.fetchone()
    finally:
        cursor.execute("DROP TABLE IF EXISTS targets")
    return int(row[0]) if row else 0


def queue_reprice(
    cursor: duckdb.DuckDBPyConnection,
    provider: str,
    model: str,
    since: dt.datetime | None,
    reason: str,
    now: dt.datetime,
) -> None:
    """Ask the next pricing run to re-price the key's calls from `since` on (None: all)."""
    cursor.execute(
        """
        INSERT INTO reprice_requests (provider, model, from_time, reason, requested_at)
        VALUES (?, ?, ?, ?, ?)
        """,
        [provider, model, since, reason, now],
    )


def process_reprice_requests(
    cursor: duckdb.DuckDBPyConnection, seq: int, now: dt.datetime
) -> list[RepriceResult]:
    """Re-price the calls of every pending request and mark it done with its count."""
    pending = cursor.execute(
        "SELECT id, provider, model, from_time FROM reprice_requests "
        "WHERE done_at IS NULL ORDER BY id"
    ).fetchall()
    results = []
    for request_id, provider, model, since in pending:
        cursor.execute(REPRICE_TARGETS, {"provider": provider, "model": model, "since": since})
        price_targets(cursor, seq, now)
        changed = _count_seq(cursor, seq, provider, model)
        cursor.execute(
            "UPDATE reprice_requests SET done_at = ?, calls_repriced = ? WHERE id = ?",
            [now, changed, request_id],
        )
        results.append(RepriceResult(request_id, provider, model, since, changed))
        log.info("re-priced %s/%s from %s: %d calls changed cost", provider, model, since, changed)
    return results


def _count_seq(cursor: duckdb.DuckDBPyConnection, seq: int, provider: str, model: str) -> int:
    row = cursor.execute(
        "SELECT count(*) FROM call_costs WHERE priced_seq = ? AND provider = ? AND model = ?",
        [seq, provider, model],
    ).fetchone()
    return int(row[0]) if row else 0


# The priced calls that started in [$start, $end), with their attribution (`m`) and their
# span (`s`), for the readers that need call-level rows (latency percentiles, FOCUS export).
# Every read of a call-level table is bounded on start_time, so DuckDB skips the rest.
PRICED_CALLS_IN_WINDOW = """
FROM call_costs c
JOIN model_calls m ON m.trace_id = c.trace_id AND m.span_id = c.span_id
JOIN spans s ON s.trace_id = c.trace_id AND s.span_id = c.span_id
WHERE c.start_time >= $start AND c.start_time < $end
  AND m.start_time >= $start AND m.start_time < $end
  AND s.start_time >= $start AND s.start_time < $end
"""
