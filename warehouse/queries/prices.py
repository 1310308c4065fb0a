"""What the price book holds and what it priced: the data behind `GET /api/v1/prices`."""

from __future__ import annotations

from typing import Any

import duckdb

from warehouse.pricing.job import current_book
from warehouse.pricing.pricebook import CATALOG_VERSION
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
WHERE retired_at IS NULL
ORDER BY provider, model, effective_from NULLS FIRST, time_of_day_from NULLS FIRST,
         min_input_tokens
"""

OVERRIDES = """
SELECT id, provider, model_pattern AS model, match_kind AS match, input_mtok,
       cache_read_mtok, cache_write_mtok, output_mtok, reasoning_mtok, effective_from,
       source, note, created_at
FROM price_overrides ORDER BY id
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


def _rows(cursor: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    result = cursor.execute(sql, params) if params is not None else cursor.execute(sql)
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def _scoped(sql: str, scope: TenantScope) -> str:
    """`sql` over the call costs of the scope's tenant; a tenant sees only models it used."""
    if scope.unscoped:
        return sql.replace("{costs}", "call_costs").replace("{having}", "TRUE")
    costs = (
        "(SELECT c.* FROM call_costs c JOIN model_calls m USING (trace_id, span_id) "
        f"WHERE {scope.where('m.tenant_id')})"
    )
    return sql.replace("{costs}", costs).replace("{having}", "count(c.span_id) > 0")


def price_report(
    cursor: duckdb.DuckDBPyConnection, reprices: int = 20, scope: TenantScope = ALL_TENANTS
) -> dict[str, Any]:
    """Models in use with their current periods, overrides, unpriced models, re-pricing.

    For a tenant scope: the models, calls and costs of that tenant only, and no re-pricing
    history (its counts cover every tenant)."""
    fingerprint = current_book(cursor).fingerprint
    periods: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for period in _rows(cursor, PERIODS):
        key = (period.pop("provider"), period.pop("model"))
        periods.setdefault(key, []).append(period)
    models = _rows(cursor, _scoped(MODELS, scope), {"fingerprint": fingerprint, **scope.params()})
    for model in models:
        model["periods"] = periods.get((model["provider"], model["model"]), [])
    pending = _rows(cursor, "SELECT count(*) AS n FROM reprice_requests WHERE done_at IS NULL")[0][
        "n"
    ]
    return {
        "catalog": {"name": "genai-prices", "version": CATALOG_VERSION},
        "book_fingerprint": fingerprint,
        "up_to_date": pending == 0 and all(m["up_to_date"] for m in models),
        "models": models,
        "overrides": _rows(cursor, OVERRIDES),
        "unpriced": _rows(cursor, _scoped(UNPRICED, scope), scope.params()),
        "reprices": _rows(cursor, REPRICES, {"limit": reprices if scope.unscoped else 0}),
    }
