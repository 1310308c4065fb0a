"""Reading both sides of the reconciliation from the warehouse (read-only).

Span-derived: every priced or unpriced model call (`call_costs` joined to its span's token
counts) per UTC day x provider x model, with our cost per token class (`call_costs`' parts:
the uncached input, cache read, cache write and output costs; per-request and GPU-priced
costs are `other`). Billed: `bill_lines` per day x provider x model, with the project, API
key and tier breakdown the bill has. Both sides' models meet on the catalog model they match
(genai-prices' matching: `gpt-4o-2024-08-06` and a span's `gpt-4o-2024-08-06` or Bedrock's
regional id are one model); a model the catalog does not know meets on its lower-cased name.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb

from warehouse.core.rows import fetch_dicts
from warehouse.pricing.catalog import default_catalog
from warehouse.reconciliation.compute import BillSide, Row, SpanSide, reconcile
from warehouse.reconciliation.config import ReconciliationConfig
from warehouse.reconciliation.records import TOKEN_CLASSES

Key = tuple[dt.date, str, str]

SPANS = """
SELECT c.start_time::DATE AS day, c.provider, c.model,
       count(*) AS calls, count(*) FILTER (WHERE NOT c.priced) AS unpriced_calls,
       sum(coalesce(s.input_tokens, 0) - coalesce(s.cache_read_tokens, 0)
           - coalesce(s.cache_write_tokens, 0)) AS input,
       sum(coalesce(s.cache_read_tokens, 0)) AS cache_read,
       sum(coalesce(s.cache_write_tokens, 0)) AS cache_write,
       sum(coalesce(s.output_tokens, 0)) AS output,
       sum(coalesce(s.input_tokens, 0) - coalesce(s.cache_read_tokens, 0)
           - coalesce(s.cache_write_tokens, 0)) FILTER (WHERE c.priced) AS priced_input,
       sum(coalesce(s.cache_read_tokens, 0)) FILTER (WHERE c.priced) AS priced_cache_read,
       sum(coalesce(s.cache_write_tokens, 0)) FILTER (WHERE c.priced) AS priced_cache_write,
       sum(coalesce(s.output_tokens, 0)) FILTER (WHERE c.priced) AS priced_output,
       coalesce(sum(c.input_cost_usd), 0) AS cost_input,
       coalesce(sum(c.cache_read_cost_usd), 0) AS cost_cache_read,
       coalesce(sum(c.cache_write_cost_usd), 0) AS cost_cache_write,
       coalesce(sum(c.output_cost_usd), 0) AS cost_output,
       coalesce(sum(c.cost_usd), 0) AS cost_total
FROM call_costs c
JOIN spans s ON s.trace_id = c.trace_id AND s.span_id = c.span_id
WHERE c.start_time >= $start AND c.start_time < $end
  AND s.start_time >= $start AND s.start_time < $end
GROUP BY ALL
"""

BILLS = """
SELECT day, provider, model, project, api_key, tier, token_class, kind,
       sum(requests) AS requests, sum(input_tokens) AS input,
       sum(cache_read_tokens) AS cache_read, sum(cache_write_tokens) AS cache_write,
       sum(output_tokens) AS output, sum(cost_usd) AS cost_usd
FROM bill_lines WHERE day >= $first AND day < $last
GROUP BY ALL
"""

COVERED = """
SELECT d.provider, d.day,
       bool_or(l.kind = 'usage' OR l.input_tokens + l.cache_read_tokens
               + l.cache_write_tokens + l.output_tokens > 0) AS usage,
       bool_or(l.cost_usd IS NOT NULL) AS cost
FROM bill_days d
LEFT JOIN bill_lines l ON l.source = d.source AND l.provider = d.provider AND l.day = d.day
WHERE d.day >= $first AND d.day < $last
GROUP BY ALL
"""


class ModelNames:
    """Where a provider's model names meet: the catalog model, else the name lower-cased."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], str] = {}

    def __call__(self, provider: str, model: str) -> str:
        key = (provider, model)
        if key not in self._known:
            match = default_catalog().find(provider, model)
            self._known[key] = match.model.id if match else model.strip().lower()
        return self._known[key]


def span_sides(
    cursor: duckdb.DuckDBPyConnection, first: dt.date, last: dt.date, names: ModelNames
) -> dict[Key, SpanSide]:
    start, end = dt.datetime.combine(first, dt.time()), dt.datetime.combine(last, dt.time())
    sides: dict[Key, SpanSide] = {}
    for row in fetch_dicts(cursor, SPANS, {"start": start, "end": end}):
        key = (row["day"], row["provider"], names(row["provider"], row["model"]))
        side = sides.setdefault(key, SpanSide())
        side.calls += row["calls"]
        side.unpriced_calls += row["unpriced_calls"]
        side.models.add(row["model"])
        token_cost = Decimal(0)
        for c in TOKEN_CLASSES:
            side.tokens[c] += int(row[c])
            side.priced_tokens[c] += int(row[f"priced_{c}"] or 0)
            side.cost[c] += Decimal(row[f"cost_{c}"])
            token_cost += Decimal(row[f"cost_{c}"])
        side.other_cost += Decimal(row["cost_total"]) - token_cost
    return sides


def bill_sides(
    cursor: duckdb.DuckDBPyConnection, first: dt.date, last: dt.date, names: ModelNames
) -> dict[Key, BillSide]:
    sides: dict[Key, BillSide] = {}
    for row in fetch_dicts(cursor, BILLS, {"first": first, "last": last}):
        key = (row["day"], row["provider"], names(row["provider"], row["model"]))
        side = sides.setdefault(key, BillSide())
        side.models.add(row["model"])
        tokens = {c: int(row[c]) for c in TOKEN_CLASSES}
        for c in TOKEN_CLASSES:
            side.tokens[c] += tokens[c]
        if row["kind"] == "usage":
            side.has_usage = True
        if row["requests"] is not None:
            side.requests = (side.requests or 0) + int(row["requests"])
        cost = None if row["cost_usd"] is None else Decimal(row["cost_usd"])
        if cost is not None:
            side.has_cost = True
            side.cost[row["token_class"]] = side.cost.get(row["token_class"], Decimal(0)) + cost
        part = side.breakdown.setdefault(
            (row["project"], row["api_key"], row["tier"]), {"tokens": 0, "cost_usd": None}
        )
        part["tokens"] += sum(tokens.values())
        if cost is not None:
            part["cost_usd"] = (part["cost_usd"] or Decimal(0)) + cost
    return sides


def reconciliation(
    cursor: duckdb.DuckDBPyConnection,
    first: dt.date,
    last: dt.date,
    config: ReconciliationConfig,
    provider: str | None = None,
) -> list[Row]:
    """The rows of the days in [first, last) the bills cover (one provider's, if given)."""
    names = ModelNames()
    covered = [
        (row["provider"], row["day"], bool(row["usage"]), bool(row["cost"]))
        for row in fetch_dicts(cursor, COVERED, {"first": first, "last": last})
        if provider is None or row["provider"] == provider
    ]
    if not covered:
        return []  # no bill covers these days: the spans are not even read
    first = max(first, min(day for _, day, _, _ in covered))
    last = min(last, max(day for _, day, _, _ in covered) + dt.timedelta(days=1))
    return reconcile(
        span_sides(cursor, first, last, names), bill_sides(cursor, first, last, names),
        covered, config,
    )  # fmt: skip
