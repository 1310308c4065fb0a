"""Price keys in the database: each (provider, model) seen in spans is resolved under the price
book into `price_periods` rows, and re-resolved (its old periods retired, re-pricing queued)
when the book changes. See `warehouse.pricing.job` for the rules.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import duckdb

from warehouse.core.rows import fetch_dicts
from warehouse.pricing.calls import queue_reprice
from warehouse.pricing.periods import RATE_COLUMNS, Period, Rates, first_difference
from warehouse.pricing.pricebook import PriceBook
from warehouse.store.numbering import insert_numbered
from warehouse.store.upsert import replace_into

log = logging.getLogger(__name__)

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
    "service_tier",
    "tier_assumption",
    "cache_write_1h_assumed",
    *RATE_COLUMNS,
)


def _stored_periods(cursor: duckdb.DuckDBPyConnection, provider: str, model: str) -> list[Period]:
    rows = fetch_dicts(
        cursor,
        f"SELECT {', '.join(_PERIOD_COLUMNS)} FROM price_periods "
        "WHERE provider = ? AND model = ? AND retired_at IS NULL ORDER BY id",
        [provider, model],
    )
    return [_period(row) for row in rows]


def _period(row: dict[str, Any]) -> Period:
    # Periods resolved before migration 0019 have no rates of its columns (NULL): their
    # fallbacks then apply (`Rates.__post_init__`), or 0 for fees.
    rates = Rates(**{column: row.pop(column) for column in RATE_COLUMNS})
    if rates.web_searches_kcount is None:
        rates = replace(rates, web_searches_kcount=Decimal(0))
    row["cache_write_1h_assumed"] = bool(row["cache_write_1h_assumed"])
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
            p.service_tier,
            p.tier_assumption,
            p.cache_write_1h_assumed,
            *p.rates.values(),
            now,
        )
        for p in periods
    ]
    if rows:
        insert_numbered(
            cursor, "price_periods", ("provider", "model", *_PERIOD_COLUMNS, "created_at"), rows
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
        replace_into(
            "price_keys",
            ("provider", "model"),
            "SELECT ?::VARCHAR AS provider, ?::VARCHAR AS model, ?::VARCHAR, ?::VARCHAR, "
            "?::VARCHAR, ?::TIMESTAMP",
        ),
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
            reason = f"price book changed ({book.fingerprint[:12]})"
            queue_reprice(cursor, provider, model, since, reason, now)
            queued += 1
    if queued:
        log.info("price book %s: %d price keys to re-price", book.fingerprint[:12], queued)
    return queued
