"""The pricing job: exact cost per model call, re-priced by itself when prices change.

Price keys. A call's key is (provider, model) as stored on its span: `provider` ('' when
none) and the response model, else the request model ('' when none). Each key seen is
resolved once per price book (`warehouse.pricing.pricebook`) into `price_periods` rows; `price_keys`
records the catalog model it matched and the book fingerprint it was resolved under.

Cost, in DuckDB DECIMAL arithmetic (never float), for the one period whose date range,
UTC time-of-day window and input-token band hold the call:

    (input - cache_read - cache_write) x input rate
    + cache_read x cache read rate + cache_write x cache write rate
    + (output - reasoning) x output rate + reasoning x reasoning rate   (all / 10^6)
    + requests_kcount / 1000

Input counts include cache reads and writes and output includes reasoning (the collector's
token rule and genai-prices' `Usage`), so no token is counted twice. A call no period holds
is unpriced (`priced` false, `cost_usd` NULL, `unpriced_reason` 'no_price'); a call with no
token counts at all is unpriced with 'no_usage'. Neither is ever $0.

Self-hosted calls. A call the GPU allocation job gave a share of its deployment's GPU cost
(`gpu_call_costs`, `warehouse.gpu.allocation`) costs that share instead (`price_source`
'gpu', no price period): token prices never apply on top of it. The allocation job queues
`reprice_requests` when a share changes.

Runs. `step` (batches after the watermark) prices the calls the attribution job wrote or
rewrote in those batches. `housekeeping` (every run, even with no new batches) notices a
changed price book (an override added, changed or deleted through the API or the price
file, or another catalog version), re-resolves the keys it affects, retires their old
periods, and queues `reprice_requests` (key, from): the first instant from which any call of
the key could be priced differently. Processing a request recomputes exactly the calls of
that key that started at or after it; calls before it keep their cost and period.

Downstream watermark. Every `call_costs` row carries `priced_seq`, taken from the sequence
`call_costs_priced_seq` once per pricing transaction. A row's `priced_seq` is set when it is
first priced and raised whenever its cost, its priced/unpriced state or its attribution
(the model call was rewritten by the attribution job) changes; a re-run that changes
nothing leaves it alone. All writes to `call_costs` happen in this job, which runs one
instance at a time, so sequence values commit in increasing order: a downstream job (e.g.
rollups) that remembers the highest `priced_seq` it has read and next reads
`WHERE priced_seq > watermark` misses no change. Re-aggregate the groups those rows fall in
(their start hour, dimensions, ...) rather than adding deltas: the row holds the new cost
only.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import duckdb

from warehouse.config.file_rows import sync_file_rows
from warehouse.pricing.pricebook import (
    Catalog,
    Override,
    Period,
    PriceBook,
    Rates,
    default_catalog,
    first_difference,
)

log = logging.getLogger(__name__)

NAME = "pricing"

# A model call's price key, from its span `s`.
KEY_PROVIDER = "coalesce(s.provider, '')"
KEY_MODEL = "coalesce(nullif(s.response_model, ''), nullif(s.request_model, ''), '')"

_PERIOD_COLUMNS = (
    "effective_from",
    "effective_to",
    "time_of_day_from",
    "time_of_day_to",
    "min_input_tokens",
    "max_input_tokens",
    "source",
    "override_id",
    "catalog_provider",
    "catalog_model",
    "input_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "output_mtok",
    "reasoning_mtok",
    "requests_kcount",
)
_OVERRIDE_COLUMNS = (
    "id",
    "provider",
    "model_pattern",
    "match_kind",
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "reasoning_mtok",
    "effective_from",
    "note",
)

# Prices the calls in the temp table `targets` (TARGET_COLUMNS); upserts only what changes.
PRICE_CALLS = """
INSERT INTO call_costs (
    trace_id, span_id, start_time, provider, model, priced, unpriced_reason, cost_usd,
    input_cost_usd, cache_read_cost_usd, cache_write_cost_usd, output_cost_usd,
    request_cost_usd, price_period_id, price_source, override_id, reported_cost_usd,
    attributed_batch_id, priced_seq, priced_at, cache_savings_usd
)
WITH matched AS (
    SELECT c.*, p.id AS period_id, p.source, p.override_id, p.input_mtok,
           (g.cost_nanos * 0.000000001)::DECIMAL(38, 24) AS gpu_cost,
           greatest(c.input_tokens - c.cache_read_tokens - c.cache_write_tokens, 0)
               * p.input_mtok * 0.000001 AS input_cost,
           c.cache_read_tokens * p.cache_read_mtok * 0.000001 AS cache_read_cost,
           c.cache_write_tokens * p.cache_write_mtok * 0.000001 AS cache_write_cost,
           (c.output_tokens - c.reasoning_tokens) * p.output_mtok * 0.000001
               + c.reasoning_tokens * p.reasoning_mtok * 0.000001 AS output_cost,
           p.requests_kcount * 0.001 AS request_cost
    FROM targets c
    LEFT JOIN gpu_call_costs g ON g.trace_id = c.trace_id AND g.span_id = c.span_id
    LEFT JOIN price_periods p
        ON g.trace_id IS NULL AND NOT c.no_usage
        AND p.retired_at IS NULL
        AND p.provider = c.provider AND p.model = c.model
        AND (p.effective_from IS NULL OR c.start_time >= p.effective_from)
        AND (p.effective_to IS NULL OR c.start_time < p.effective_to)
        AND (p.time_of_day_from IS NULL OR c.start_time::TIME >= p.time_of_day_from)
        AND (p.time_of_day_to IS NULL OR c.start_time::TIME < p.time_of_day_to)
        AND c.input_tokens >= p.min_input_tokens
        AND (p.max_input_tokens IS NULL OR c.input_tokens < p.max_input_tokens)
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
                    - cache_read_cost::DECIMAL(38, 24), 0)::DECIMAL(38, 24)
FROM matched
ON CONFLICT (trace_id, span_id) DO UPDATE SET
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
    priced_seq = CASE
        WHEN call_costs.cost_usd IS DISTINCT FROM excluded.cost_usd
            OR call_costs.priced IS DISTINCT FROM excluded.priced
            OR call_costs.attributed_batch_id IS DISTINCT FROM excluded.attributed_batch_id
            OR call_costs.cache_savings_usd IS DISTINCT FROM excluded.cache_savings_usd
        THEN excluded.priced_seq ELSE call_costs.priced_seq END,
    priced_at = excluded.priced_at
WHERE call_costs.cost_usd IS DISTINCT FROM excluded.cost_usd
    OR call_costs.cache_savings_usd IS DISTINCT FROM excluded.cache_savings_usd
    OR call_costs.priced IS DISTINCT FROM excluded.priced
    OR call_costs.attributed_batch_id IS DISTINCT FROM excluded.attributed_batch_id
    OR call_costs.price_period_id IS DISTINCT FROM excluded.price_period_id
    OR call_costs.price_source IS DISTINCT FROM excluded.price_source
    OR call_costs.override_id IS DISTINCT FROM excluded.override_id
    OR call_costs.unpriced_reason IS DISTINCT FROM excluded.unpriced_reason
    OR call_costs.reported_cost_usd IS DISTINCT FROM excluded.reported_cost_usd
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


def _naive(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo else now


def _rows(cursor: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    result = cursor.execute(sql, params) if params is not None else cursor.execute(sql)
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


# ---- the price book in the database -----------------------------------------------------


def load_overrides(cursor: duckdb.DuckDBPyConnection) -> tuple[Override, ...]:
    rows = _rows(cursor, f"SELECT {', '.join(_OVERRIDE_COLUMNS)} FROM price_overrides ORDER BY id")
    return tuple(Override(**row) for row in rows)


def current_book(cursor: duckdb.DuckDBPyConnection, catalog: Catalog | None = None) -> PriceBook:
    return PriceBook(catalog or default_catalog(), load_overrides(cursor))


def _stored_periods(cursor: duckdb.DuckDBPyConnection, provider: str, model: str) -> list[Period]:
    rows = _rows(
        cursor,
        f"SELECT {', '.join(_PERIOD_COLUMNS)} FROM price_periods "
        "WHERE provider = ? AND model = ? AND retired_at IS NULL ORDER BY id",
        [provider, model],
    )
    return [_period(row) for row in rows]


def _period(row: dict[str, Any]) -> Period:
    rates = Rates(
        input_mtok=row.pop("input_mtok"),
        cache_read_mtok=row.pop("cache_read_mtok"),
        cache_write_mtok=row.pop("cache_write_mtok"),
        output_mtok=row.pop("output_mtok"),
        reasoning_mtok=row.pop("reasoning_mtok"),
        requests_kcount=row.pop("requests_kcount"),
    )
    return Period(**row, rates=rates)


def _insert_periods(
    cursor: duckdb.DuckDBPyConnection,
    provider: str,
    model: str,
    periods: Iterable[Period],
    now: dt.datetime,
) -> None:
    rows = [
        (
            provider,
            model,
            p.effective_from,
            p.effective_to,
            p.time_of_day_from,
            p.time_of_day_to,
            p.min_input_tokens,
            p.max_input_tokens,
            p.source,
            p.override_id,
            p.catalog_provider,
            p.catalog_model,
            *p.rates.values(),
            now,
        )
        for p in periods
    ]
    if rows:
        cursor.executemany(
            f"INSERT INTO price_periods (provider, model, {', '.join(_PERIOD_COLUMNS)}, "
            f"created_at) VALUES ({', '.join(['?'] * (len(_PERIOD_COLUMNS) + 3))})",
            rows,
        )


def resolve_key(
    cursor: duckdb.DuckDBPyConnection,
    book: PriceBook,
    provider: str,
    model: str,
    now: dt.datetime,
    *,
    known: bool,
) -> tuple[bool, dt.datetime | None]:
    """(Re)resolve one key under `book`; returns (changed, since) as `first_difference`.

    A changed key's current periods are retired and the new ones written.
    """
    match, periods = book.resolve(provider, model)
    old = _stored_periods(cursor, provider, model) if known else []
    changed, since = first_difference(old, periods)
    if changed:
        cursor.execute(
            "UPDATE price_periods SET retired_at = ? "
            "WHERE provider = ? AND model = ? AND retired_at IS NULL",
            [now, provider, model],
        )
        _insert_periods(cursor, provider, model, periods, now)
    cursor.execute(
        """
        INSERT OR REPLACE INTO price_keys
            (provider, model, catalog_provider, catalog_model, book_fingerprint, resolved_at)
        VALUES (?, ?, ?, ?, ?, ?)
        """,
        [
            provider,
            model,
            match.provider.id if match else None,
            match.model.id if match else None,
            book.fingerprint,
            now,
        ],
    )
    return changed, since


def refresh_book(cursor: duckdb.DuckDBPyConnection, book: PriceBook, now: dt.datetime) -> int:
    """Re-resolve the keys resolved under another book; queue re-pricing where a price
    changed. Returns the number of re-pricing requests queued."""
    stale = cursor.execute(
        "SELECT provider, model FROM price_keys WHERE book_fingerprint <> ? ORDER BY 1, 2",
        [book.fingerprint],
    ).fetchall()
    queued = 0
    for provider, model in stale:
        changed, since = resolve_key(cursor, book, provider, model, now, known=True)
        if changed:
            cursor.execute(
                """
                INSERT INTO reprice_requests (provider, model, from_time, reason, requested_at)
                VALUES (?, ?, ?, ?, ?)
                """,
                [provider, model, since, f"price book changed ({book.fingerprint[:12]})", now],
            )
            queued += 1
    if queued:
        log.info("price book %s: %d price keys to re-price", book.fingerprint[:12], queued)
    return queued


def _next_seq(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.execute("SELECT nextval('call_costs_priced_seq')").fetchone()
    assert row is not None
    return int(row[0])


def _price_targets(cursor: duckdb.DuckDBPyConnection, seq: int, now: dt.datetime) -> int:
    try:
        cursor.execute(PRICE_CALLS, {"seq": seq, "now": now})
        row = cursor.fetchone()
    finally:
        cursor.execute("DROP TABLE IF EXISTS targets")
    return int(row[0]) if row else 0


def process_reprice_requests(
    cursor: duckdb.DuckDBPyConnection, seq: int, now: dt.datetime
) -> list[RepriceResult]:
    pending = cursor.execute(
        "SELECT id, provider, model, from_time FROM reprice_requests "
        "WHERE done_at IS NULL ORDER BY id"
    ).fetchall()
    results = []
    for request_id, provider, model, since in pending:
        cursor.execute(REPRICE_TARGETS, {"provider": provider, "model": model, "since": since})
        _price_targets(cursor, seq, now)
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


# ---- the job ----------------------------------------------------------------------------


def housekeeping(cursor: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
    """Apply price book changes: re-resolve affected keys and re-price their calls.

    The caller owns the transaction. Returns the number of calls whose cost changed.
    """
    now = _naive(now)
    book = current_book(cursor)
    refresh_book(cursor, book, now)
    has_pending = cursor.execute(
        "SELECT count(*) FROM reprice_requests WHERE done_at IS NULL"
    ).fetchone()
    if not has_pending or not has_pending[0]:
        return 0
    seq = _next_seq(cursor)
    return sum(r.calls_changed for r in process_reprice_requests(cursor, seq, now))


def price(cursor: duckdb.DuckDBPyConnection, low: int, high: int) -> int:
    """Price the model calls attributed in batches (low, high]; returns rows written.

    The caller owns the transaction (and records the new watermark in it).
    """
    if high <= low:
        return 0
    now = _naive(dt.datetime.now(dt.UTC))
    book = current_book(cursor)
    refresh_book(cursor, book, now)
    seq = _next_seq(cursor)
    process_reprice_requests(cursor, seq, now)
    bounds = cursor.execute(FRESH_RANGE, {"low": low, "high": high}).fetchone()
    if bounds is None or bounds[0] is None:
        return 0
    cursor.execute(FRESH_TARGETS, {"low": low, "high": high, "first": bounds[0], "last": bounds[1]})
    for provider, model in cursor.execute(NEW_KEYS).fetchall():
        resolve_key(cursor, book, provider, model, now, known=False)
    return _price_targets(cursor, seq, now)


# ---- overrides --------------------------------------------------------------------------


def add_override(
    cursor: duckdb.DuckDBPyConnection, override: Override, source: str, now: dt.datetime
) -> int:
    """Store an override; the next pricing run re-prices what it affects. Returns its id."""
    row = cursor.execute(
        """
        INSERT INTO price_overrides (provider, model_pattern, match_kind, input_mtok,
            cache_read_mtok, cache_write_mtok, output_mtok, reasoning_mtok, effective_from,
            source, note, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        RETURNING id
        """,
        [
            override.provider,
            override.model_pattern,
            override.match_kind,
            override.input_mtok,
            override.cache_read_mtok,
            override.cache_write_mtok,
            override.output_mtok,
            override.reasoning_mtok,
            override.effective_from,
            source,
            override.note,
            _naive(now),
        ],
    ).fetchone()
    assert row is not None
    return int(row[0])


def delete_override(cursor: duckdb.DuckDBPyConnection, override_id: int) -> bool:
    row = cursor.execute(
        "DELETE FROM price_overrides WHERE id = ? RETURNING id", [override_id]
    ).fetchone()
    return row is not None


def sync_file_overrides(
    cursor: duckdb.DuckDBPyConnection, overrides: Iterable[Override], now: dt.datetime
) -> tuple[int, int]:
    """Make the stored file overrides equal to the price file's entries, keeping the ids of
    unchanged entries (so nothing is re-priced for them). Returns (added, removed)."""
    stored = {
        o.identity(): o.id
        for o in (
            Override(**row)
            for row in _rows(
                cursor,
                f"SELECT {', '.join(_OVERRIDE_COLUMNS)} FROM price_overrides WHERE source = 'file'",
            )
        )
    }
    return sync_file_rows(
        cursor,
        "price_overrides",
        stored,
        {o.identity(): o for o in overrides},
        lambda override: add_override(cursor, override, "file", now),
    )
