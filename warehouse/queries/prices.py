"""What the price book holds and what it priced: the data behind `GET /api/v1/prices` (and
`spendscope prices check`, which shows what a price file's overrides would cover)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import duckdb

from warehouse.core.rows import fetch_dicts
from warehouse.pricing.catalog_store import catalog_status
from warehouse.pricing.job import current_book, load_overrides
from warehouse.pricing.pricebook import CATALOG_VERSION, Override, PriceBook
from warehouse.store.scope import ALL_TENANTS, TenantScope

MODELS = """
SELECT k.provider, k.model, k.catalog_provider, k.catalog_model,
       k.book_fingerprint = $fingerprint AS up_to_date,
       count(c.span_id) AS calls,
       count(c.span_id) FILTER (WHERE c.priced) AS priced_calls,
       count(c.span_id) FILTER (WHERE c.price_source = 'override') AS override_calls,
       sum(c.cost_usd) AS cost_usd,
       sum(c.reported_cost_usd) AS reported_cost_usd,
       sum(c.cost_usd) FILTER (WHERE c.reported_cost_usd IS NOT NULL)
           AS cost_usd_where_reported
FROM price_keys k
LEFT JOIN {costs} c ON c.provider = k.provider AND c.model = k.model
GROUP BY ALL
HAVING {having}
ORDER BY cost_usd DESC NULLS LAST, calls DESC, k.provider, k.model
"""

PERIODS = """
SELECT id, provider, model, effective_from, effective_to, time_of_day_from, time_of_day_to,
       min_input_tokens, max_input_tokens, source, override_id, input_mtok, cache_read_mtok,
       cache_write_mtok, output_mtok, reasoning_mtok, requests_kcount
FROM price_periods
WHERE retired_at IS NULL AND service_tier IS NULL  -- standard; tiers: warehouse.pricing.tiers
ORDER BY provider, model, effective_from NULLS FIRST, time_of_day_from NULLS FIRST,
         min_input_tokens
"""

OVERRIDES = """
SELECT id, provider, model_pattern AS model, match_kind AS match, input_mtok,
       cache_read_mtok, cache_write_mtok, output_mtok, reasoning_mtok, effective_from,
       effective_until, tiers, source, note, created_at
FROM price_overrides ORDER BY id
"""

# The calls of the given keys inside an override's dates, and those it priced.
COVERED_CALLS = """
SELECT c.provider, c.model, count(*) AS calls,
       count(*) FILTER (WHERE c.override_id = $id) AS priced_calls
FROM {costs} c
JOIN (SELECT unnest($providers) AS provider, unnest($models) AS model) k
    ON k.provider = c.provider AND k.model = c.model
WHERE c.start_time >= $from AND ($until IS NULL OR c.start_time < $until)
GROUP BY ALL
"""

UNPRICED = """
SELECT c.provider, c.model, c.unpriced_reason AS reason, count(*) AS calls,
       coalesce(sum(s.input_tokens), 0) AS input_tokens,
       coalesce(sum(s.output_tokens), 0) AS output_tokens,
       coalesce(sum(s.cache_read_tokens), 0) AS cache_read_tokens,
       coalesce(sum(s.cache_write_tokens), 0) AS cache_write_tokens,
       min(c.start_time) AS first_call, max(c.start_time) AS last_call
FROM {costs} c JOIN spans s USING (trace_id, span_id)
WHERE NOT c.priced
GROUP BY ALL
ORDER BY calls DESC, c.provider, c.model
"""

REPRICES = """
SELECT id, provider, model, from_time, reason, requested_at, done_at, calls_repriced
FROM reprice_requests ORDER BY id DESC LIMIT $limit
"""


def _scoped(sql: str, scope: TenantScope) -> str:
    """`sql` over the call costs of the scope's tenant; a tenant sees only models it used."""
    if scope.unscoped:
        return sql.replace("{costs}", "call_costs").replace("{having}", "TRUE")
    costs = (
        "(SELECT c.* FROM call_costs c JOIN model_calls m USING (trace_id, span_id) "
        f"WHERE {scope.where('m.tenant_id')})"
    )
    return sql.replace("{costs}", costs).replace("{having}", "count(c.span_id) > 0")


def override_coverage(
    cursor: duckdb.DuckDBPyConnection,
    book: PriceBook,
    overrides: Sequence[Override],
    scope: TenantScope = ALL_TENANTS,
) -> list[dict[str, Any]]:
    """For each override (stored or not): the models seen in spans it covers (how, calls in
    its dates, calls it priced), their calls, and a warning when it covers none."""
    keys = cursor.execute("SELECT provider, model FROM price_keys ORDER BY 1, 2").fetchall()
    found = []
    for override in overrides:
        how = {
            (provider, model): match
            for provider, model in keys
            if (match := override.coverage(provider, model, book.catalog))
        }
        counts: dict[tuple[str, str], dict[str, Any]] = {}
        if how:
            params = {
                "id": override.id,
                "providers": [provider for provider, _ in how],
                "models": [model for _, model in how],
                "from": override.effective_from,
                "until": override.effective_until,
                **scope.params(),
            }
            for row in fetch_dicts(cursor, _scoped(COVERED_CALLS, scope), params):
                counts[(row.pop("provider"), row.pop("model"))] = row
        covers = [
            {"provider": provider, "model": model, "match": match}
            | counts.get((provider, model), {"calls": 0, "priced_calls": 0})
            for (provider, model), match in how.items()
            if scope.unscoped or (provider, model) in counts
        ]
        for covered in covers if override.id is None else []:
            covered["priced_calls"] = None  # not stored: it priced nothing yet
        calls = sum(covered["calls"] for covered in covers)
        found.append(
            {"covers": covers, "covered_calls": calls, "warning": _warning(override, covers)}
        )
    return found


def _warning(override: Override, covers: list[dict[str, Any]]) -> str | None:
    if not covers:
        return "covers no model seen in spans"
    if not any(covered["calls"] for covered in covers):
        return (
            f"covers {len(covers)} model(s) seen in spans, but none of their calls is in its dates"
        )
    if override.id is not None and not any(covered["priced_calls"] for covered in covers):
        return "every call it covers is priced by a more specific override"
    return None


def _overrides(
    cursor: duckdb.DuckDBPyConnection, book: PriceBook, scope: TenantScope
) -> list[dict[str, Any]]:
    rows = fetch_dicts(cursor, OVERRIDES)
    stored = load_overrides(cursor)
    by_id = {override.id: override for override in stored}
    ordered = [by_id[row["id"]] for row in rows]
    for row, coverage in zip(rows, override_coverage(cursor, book, ordered, scope), strict=True):
        row["tiers"] = json.loads(row["tiers"]) if row["tiers"] else []
        row.update(coverage)
    return rows


def price_report(
    cursor: duckdb.DuckDBPyConnection, reprices: int = 20, scope: TenantScope = ALL_TENANTS
) -> dict[str, Any]:
    """Models in use with their current periods, overrides, unpriced models, re-pricing.

    For a tenant scope: the models, calls and costs of that tenant only, and no re-pricing
    history (its counts cover every tenant)."""
    book = current_book(cursor)
    fingerprint = book.fingerprint
    periods: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for period in fetch_dicts(cursor, PERIODS):
        key = (period.pop("provider"), period.pop("model"))
        periods.setdefault(key, []).append(period)
    models = fetch_dicts(
        cursor, _scoped(MODELS, scope), {"fingerprint": fingerprint, **scope.params()}
    )
    for model in models:
        model["periods"] = periods.get((model["provider"], model["model"]), [])
    pending = fetch_dicts(
        cursor, "SELECT count(*) AS n FROM reprice_requests WHERE done_at IS NULL"
    )[0]["n"]
    return {
        "catalog": {"name": "genai-prices", "version": CATALOG_VERSION, **catalog_status(cursor)},
        "book_fingerprint": fingerprint,
        "up_to_date": pending == 0 and all(m["up_to_date"] for m in models),
        "models": models,
        "overrides": _overrides(cursor, book, scope),
        "unpriced": fetch_dicts(cursor, _scoped(UNPRICED, scope), scope.params()),
        "reprices": fetch_dicts(cursor, REPRICES, {"limit": reprices if scope.unscoped else 0}),
    }
