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

Modules. This one runs the job and stores overrides; `warehouse.pricing.keys` resolves price
keys into stored periods and `warehouse.pricing.calls` holds the SQL that prices the calls.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import duckdb

from warehouse.config.file_rows import sync_file_rows
from warehouse.core.clock import naive_utc
from warehouse.core.rows import fetch_dicts
from warehouse.pricing import calls
from warehouse.pricing.catalog import Catalog
from warehouse.pricing.catalog_store import catalog_in_force
from warehouse.pricing.keys import refresh_book, resolve_key
from warehouse.pricing.pricebook import Override, OverrideTier, PriceBook
from warehouse.store.numbering import insert_numbered

NAME = "pricing"

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
    "effective_until",
    "tiers",
)
_TIER_PRICES = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "reasoning_mtok",
)


# ---- the price book in the database -----------------------------------------------------


def tiers_json(tiers: tuple[OverrideTier, ...]) -> str | None:
    """An override's tiers as stored (`price_overrides.tiers`): JSON, prices as strings."""
    if not tiers:
        return None
    return json.dumps(
        [
            {"start": tier.start}
            | {key: str(value) for key in _TIER_PRICES if (value := getattr(tier, key)) is not None}
            for tier in tiers
        ]
    )


def _tiers(text: str | None) -> tuple[OverrideTier, ...]:
    def price(tier: dict[str, str], key: str) -> Decimal | None:
        return Decimal(tier[key]) if key in tier else None

    return tuple(
        OverrideTier(
            start=int(tier["start"]),
            input_mtok=Decimal(tier["input_mtok"]),
            output_mtok=Decimal(tier["output_mtok"]),
            cache_read_mtok=price(tier, "cache_read_mtok"),
            cache_write_mtok=price(tier, "cache_write_mtok"),
            reasoning_mtok=price(tier, "reasoning_mtok"),
        )
        for tier in (json.loads(text) if text else [])
    )


def _override(row: dict[str, Any]) -> Override:
    return Override(**{**row, "tiers": _tiers(row["tiers"])})


def load_overrides(cursor: duckdb.DuckDBPyConnection) -> tuple[Override, ...]:
    rows = fetch_dicts(
        cursor, f"SELECT {', '.join(_OVERRIDE_COLUMNS)} FROM price_overrides ORDER BY id"
    )
    return tuple(_override(row) for row in rows)


def current_book(cursor: duckdb.DuckDBPyConnection, catalog: Catalog | None = None) -> PriceBook:
    """The overrides and the catalog in force (`warehouse.pricing.catalog_store`)."""
    return PriceBook(catalog or catalog_in_force(cursor), load_overrides(cursor))


# ---- the job ----------------------------------------------------------------------------


def housekeeping(cursor: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
    """Apply price book changes: re-resolve affected keys and re-price their calls.

    The caller owns the transaction. Returns the number of calls whose cost changed.
    """
    now = naive_utc(now)
    book = current_book(cursor)
    refresh_book(cursor, book, now)
    has_pending = cursor.execute(
        "SELECT count(*) FROM reprice_requests WHERE done_at IS NULL"
    ).fetchone()
    if not has_pending or not has_pending[0]:
        return 0
    seq = calls.next_seq(cursor)
    return sum(r.calls_changed for r in calls.process_reprice_requests(cursor, seq, now))


def price(cursor: duckdb.DuckDBPyConnection, low: int, high: int) -> int:
    """Price the model calls attributed in batches (low, high]; returns rows written.

    The caller owns the transaction (and records the new watermark in it).
    """
    if high <= low:
        return 0
    now = naive_utc(dt.datetime.now(dt.UTC))
    book = current_book(cursor)
    refresh_book(cursor, book, now)
    seq = calls.next_seq(cursor)
    calls.process_reprice_requests(cursor, seq, now)
    if not calls.stage_fresh(cursor, low, high):
        return 0
    for provider, model in calls.new_keys(cursor):
        resolve_key(cursor, book, provider, model, now, known=False)
    return calls.price_targets(cursor, seq, now)


# ---- overrides --------------------------------------------------------------------------


_INSERTED_OVERRIDE_COLUMNS = (
    "provider", "model_pattern", "match_kind", "input_mtok", "cache_read_mtok",
    "cache_write_mtok", "output_mtok", "reasoning_mtok", "effective_from", "source", "note",
    "created_at", "effective_until", "tiers",
)  # fmt: skip


def add_override(
    cursor: duckdb.DuckDBPyConnection, override: Override, source: str, now: dt.datetime
) -> int:
    """Store an override; the next pricing run re-prices what it affects. Returns its id."""
    (new_id,) = insert_numbered(
        cursor,
        "price_overrides",
        _INSERTED_OVERRIDE_COLUMNS,
        [
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
                naive_utc(now),
                override.effective_until,
                tiers_json(override.tiers),
            ]
        ],
    )
    return new_id


def delete_override(cursor: duckdb.DuckDBPyConnection, override_id: int) -> bool:
    row = cursor.execute("DELETE FROM price_overrides WHERE id = ?", [override_id]).fetchone()
    return bool(row and row[0])  # the count of rows deleted


def sync_file_overrides(
    cursor: duckdb.DuckDBPyConnection, overrides: Iterable[Override], now: dt.datetime
) -> tuple[int, int]:
    """Make the stored file overrides equal to the price file's entries, keeping the ids of
    unchanged entries (so nothing is re-priced for them). Returns (added, removed)."""
    stored = {
        o.identity(): o.id
        for o in (
            _override(row)
            for row in fetch_dicts(
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
