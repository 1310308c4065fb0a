"""FOCUS 1.2 rows from the priced model calls: tokens as the consumed quantity, one row per
charge period (day or hour) x provider x model x the chosen dimensions (feature and tenant
by default) x SKU price, the SKU price being the model's token direction and cache action.

Why 1.2: it is the newest version the FOCUS_Spec repository shows as approved (tag `v1.2`,
CHANGELOG "Announced June 2025"); the 1.3+ column files there are working drafts with no
release tag (docs/focus.md). The columns, their order and their rules are FOCUS 1.2's
(`COLUMNS`), then the custom `x_` ones.

Costs (docs/focus.md, "List vs effective cost"):
- EffectiveCost = BilledCost = ContractedCost: what spendscope's price book charged the
  calls (catalog or negotiated override, effective-dated), exact decimals in USD;
- ListCost: the same tokens at the catalog's list price in effect at the charge period's
  start (`warehouse.pricing.catalog`); where the catalog has no list price for the model (a
  self-hosted model, a private one), the price book's price is the list price;
- ContractedUnitPrice = EffectiveCost / PricingQuantity, ListUnitPrice the catalog's rate.

`x_CostSource` says whether a row's cost was computed (tokens x the price book, or GPU time
allocated to a self-hosted call) or reported (an unpriced call whose instrumentation
reported a cost). Unpriced calls without a reported cost have no cost to state: they are
left out, and counted (`FocusExport.left_out_calls`), never exported as $0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any, Literal

import duckdb

from warehouse.core.errors import InvalidRequest
from warehouse.core.rows import fetch_dicts
from warehouse.pricing.calls import PRICED_CALLS_IN_WINDOW
from warehouse.pricing.catalog import Catalog
from warehouse.pricing.periods import Rates
from warehouse.store.scope import TenantScope

FOCUS_VERSION = "1.2"
Grain = Literal["day", "hour"]
# The dimensions a row may be split by (besides provider and model), API name -> column.
BY_DIMENSIONS = {"feature": "m.feature", "tenant": "m.tenant_id", "environment": "m.environment"}
DEFAULT_BY = ("feature", "tenant")
PRICE_SCALE = Decimal(1).scaleb(-24)
MILLION = Decimal(1_000_000)
THOUSAND = Decimal(1000)

# FOCUS 1.2 columns this export fills, in its order, with their data types (specification/
# columns/*.md at tag v1.2); conditional columns whose concept spendscope has (SKUs, list
# and contracted prices, consumed quantity, pricing category) are included, the others
# (commitment discounts, capacity reservations, regions, resources, sub accounts,
# virtual currencies) are not: their concepts do not exist for API token usage.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("BilledCost", "Decimal"),
    ("BillingAccountId", "String"),
    ("BillingAccountName", "String"),
    ("BillingCurrency", "String"),
    ("BillingPeriodEnd", "Date/Time"),
    ("BillingPeriodStart", "Date/Time"),
    ("ChargeCategory", "String"),
    ("ChargeClass", "String"),
    ("ChargeDescription", "String"),
    ("ChargeFrequency", "String"),
    ("ChargePeriodEnd", "Date/Time"),
    ("ChargePeriodStart", "Date/Time"),
    ("ConsumedQuantity", "Decimal"),
    ("ConsumedUnit", "String"),
    ("ContractedCost", "Decimal"),
    ("ContractedUnitPrice", "Decimal"),
    ("EffectiveCost", "Decimal"),
    ("InvoiceIssuerName", "String"),
    ("ListCost", "Decimal"),
    ("ListUnitPrice", "Decimal"),
    ("PricingCategory", "String"),
    ("PricingQuantity", "Decimal"),
    ("PricingUnit", "String"),
    ("ProviderName", "String"),
    ("PublisherName", "String"),
    ("ServiceCategory", "String"),
    ("ServiceName", "String"),
    ("ServiceSubcategory", "String"),
    ("SkuId", "String"),
    ("SkuMeter", "String"),
    ("SkuPriceId", "String"),
)
CUSTOM_COLUMNS: tuple[tuple[str, str], ...] = (
    ("x_Feature", "String"),
    ("x_Tenant", "String"),
    ("x_Environment", "String"),
    ("x_ValueUnit", "String"),
    ("x_CostSource", "String"),
    ("x_TokenDirection", "String"),
    ("x_CacheAction", "String"),
    ("x_Calls", "Integer"),
)
COLUMN_NAMES = tuple(name for name, _ in (*COLUMNS, *CUSTOM_COLUMNS))


@dataclass(frozen=True)
class Part:
    """A priced part of a call: its SkuPriceId suffix, meter, direction, cache action, the
    rate it is priced at (a `Rates` field; None: no list rate of its own) and its unit."""

    key: str
    meter: str
    direction: str
    cache: str
    rate: str | None
    unit: str = "Tokens"
    pricing_unit: str = "1000000 Tokens"
    per: Decimal = MILLION


REQUESTS = ("Requests", "1000 Requests", THOUSAND)
PARTS = {
    part.key: part
    for part in (
        Part("input", "Input Tokens", "input", "none", "input_mtok"),
        Part("cache_read", "Cache Read Tokens", "input", "read", "cache_read_mtok"),
        Part("cache_write", "Cache Write Tokens", "input", "write", "cache_write_mtok"),
        Part("output", "Output Tokens", "output", "none", "output_mtok"),
        Part(
            "request",
            "Requests",
            "request",
            "none",
            "requests_kcount",
            "Requests",
            "1000 Requests",
            THOUSAND,
        ),
        # Self-hosted calls: their GPU time's cost, over all their tokens.
        Part("gpu", "Tokens (GPU time)", "total", "none", None),
        # Unpriced calls whose instrumentation reported a cost: over all their tokens.
        Part("reported", "Tokens (reported cost)", "total", "none", None),
    )
}

# Each call split into its priced parts (a part with neither tokens nor cost is dropped),
# summed per charge period, provider, model, the chosen dimensions and part.
PARTS_SQL = """
WITH calls AS (
    SELECT date_trunc($grain, c.start_time) AS period, c.provider, c.model, {dims}
           c.priced, c.cost_usd, c.input_cost_usd, c.cache_read_cost_usd,
           c.cache_write_cost_usd, c.output_cost_usd, c.request_cost_usd, c.reported_cost_usd,
           coalesce(s.input_tokens, 0) AS input, coalesce(s.output_tokens, 0) AS output,
           coalesce(s.cache_read_tokens, 0) AS cache_read,
           coalesce(s.cache_write_tokens, 0) AS cache_write
    {calls}
      AND {scope}
),
parts AS (
    SELECT *, 'input' AS part, greatest(input - cache_read - cache_write, 0) AS quantity,
           input_cost_usd AS cost FROM calls WHERE priced AND input_cost_usd IS NOT NULL
    UNION ALL
    SELECT *, 'cache_read', cache_read, cache_read_cost_usd
    FROM calls WHERE priced AND cache_read_cost_usd IS NOT NULL
    UNION ALL
    SELECT *, 'cache_write', cache_write, cache_write_cost_usd
    FROM calls WHERE priced AND cache_write_cost_usd IS NOT NULL
    UNION ALL
    SELECT *, 'output', output, output_cost_usd
    FROM calls WHERE priced AND output_cost_usd IS NOT NULL
    UNION ALL
    SELECT *, 'request', 1, request_cost_usd
    FROM calls WHERE priced AND request_cost_usd IS NOT NULL AND request_cost_usd <> 0
    UNION ALL
    SELECT *, 'gpu', input + output, cost_usd
    FROM calls WHERE priced AND input_cost_usd IS NULL
    UNION ALL
    SELECT *, 'reported', input + output, reported_cost_usd
    FROM calls WHERE NOT priced AND reported_cost_usd IS NOT NULL
)
SELECT period, provider, model, {keys} part, count(*) AS calls,
       sum(quantity)::BIGINT AS quantity, sum(cost)::DECIMAL(38, 24) AS cost
FROM parts
GROUP BY ALL
HAVING sum(quantity) <> 0 OR sum(cost) <> 0
ORDER BY ALL
"""
LEFT_OUT_SQL = """
SELECT count(*) FROM call_costs c
JOIN model_calls m ON m.trace_id = c.trace_id AND m.span_id = c.span_id
WHERE c.start_time >= $start AND c.start_time < $end
  AND m.start_time >= $start AND m.start_time < $end
  AND NOT c.priced AND c.reported_cost_usd IS NULL AND {scope}
"""


class ExportError(InvalidRequest):
    """An export the parameters cannot describe; the message says why."""

    status_code = 400


@dataclass(frozen=True)
class FocusQuery:
    start: dt.datetime  # naive UTC, aligned to the grain
    end: dt.datetime
    grain: Grain = "day"
    by: tuple[str, ...] = DEFAULT_BY


@dataclass(frozen=True)
class FocusExport:
    rows: list[dict[str, Any]]  # COLUMN_NAMES -> value (Decimal, datetime, str, int, None)
    left_out_calls: int  # unpriced calls without a reported cost: no cost to state


def aligned(start: dt.datetime, end: dt.datetime, grain: Grain) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in naive UTC widened to whole days or hours."""

    def floor(value: dt.datetime) -> dt.datetime:
        value = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
        value = value.replace(minute=0, second=0, microsecond=0)
        return value.replace(hour=0) if grain == "day" else value

    step = dt.timedelta(days=1) if grain == "day" else dt.timedelta(hours=1)
    low, high = floor(start), floor(end)
    if high < (end.astimezone(dt.UTC).replace(tzinfo=None) if end.tzinfo else end):
        high += step
    if high <= low:
        raise ExportError("end must be after start")
    return low, high


def focus_rows(
    cursor: duckdb.DuckDBPyConnection,
    query: FocusQuery,
    scope: TenantScope,
    catalog: Catalog,
    value_units: Mapping[str, str],
) -> FocusExport:
    """The FOCUS rows of the calls that started in [query.start, query.end) in the scope."""
    if unknown := set(query.by) - set(BY_DIMENSIONS):
        raise ExportError(f"cannot split FOCUS rows by: {', '.join(sorted(unknown))}")
    if len(set(query.by)) != len(query.by):
        raise ExportError("a dimension is given twice in by")
    dims = "".join(f"{BY_DIMENSIONS[name]} AS {name}, " for name in query.by)
    keys = "".join(f"{name}, " for name in query.by)
    params = {"start": query.start, "end": query.end, **scope.params()}
    where = scope.where("m.tenant_id")
    sql = PARTS_SQL.format(calls=PRICED_CALLS_IN_WINDOW, dims=dims, keys=keys, scope=where)
    parts = fetch_dicts(cursor, sql, params | {"grain": query.grain})
    row = cursor.execute(LEFT_OUT_SQL.format(scope=where), params).fetchone()
    list_prices = ListPrices(catalog)
    step = dt.timedelta(days=1) if query.grain == "day" else dt.timedelta(hours=1)
    rows = [_row(part, step, list_prices, value_units) for part in parts]
    return FocusExport(rows, int(row[0]) if row else 0)


class ListPrices:
    """The catalog's list rates per (provider, model) at an instant, looked up once each."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._periods: dict[tuple[str, str], list[Any]] = {}

    def rates(self, provider: str, model: str, at: dt.datetime) -> Rates | None:
        """The standard tier's base band (the smallest input) in effect at `at`."""
        key = (provider, model)
        if key not in self._periods:
            match = self.catalog.find(provider, model)
            self._periods[key] = [] if match is None else self.catalog.periods(match)
        for period in self._periods[key]:
            if (
                period.min_input_tokens == 0
                and period.service_tier is None
                and period.time_of_day_from is None
                and (period.effective_from is None or period.effective_from <= at)
                and (period.effective_to is None or at < period.effective_to)
            ):
                rates: Rates = period.rates
                return rates
        return None


def _divide(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    if not denominator:
        return None
    with localcontext() as context:
        context.prec = 60
        return (numerator / denominator).quantize(PRICE_SCALE)


def _row(
    part: Mapping[str, Any],
    step: dt.timedelta,
    list_prices: ListPrices,
    value_units: Mapping[str, str],
) -> dict[str, Any]:
    kind = PARTS[part["part"]]
    start: dt.datetime = part["period"]
    provider, model = part["provider"], part["model"]
    cost = Decimal(part["cost"] or 0)
    quantity = Decimal(part["quantity"])
    unit, pricing_unit, per = kind.unit, kind.pricing_unit, kind.per
    if not quantity:  # a cost without tokens (none reported): per request, to have a price
        quantity, unit, pricing_unit, per = Decimal(part["calls"]), *REQUESTS
    pricing_quantity = quantity / per
    effective_price = _divide(cost, pricing_quantity)
    rates = list_prices.rates(provider, model, start) if kind.rate else None
    list_price = getattr(rates, kind.rate) if rates is not None and kind.rate else None
    if list_price is None:  # no list price of its own: the price book's is the list
        list_cost, list_price = cost, effective_price
    else:
        list_price = Decimal(list_price)
        list_cost = list_price * pricing_quantity
    feature = part.get("feature")
    month = start.replace(day=1, hour=0)
    source = "Reported" if kind.key == "reported" else "Computed"
    return {
        "BilledCost": cost,
        "BillingAccountId": "spendscope",
        "BillingAccountName": "spendscope (cost derived from spans)",
        "BillingCurrency": "USD",
        "BillingPeriodEnd": (month + dt.timedelta(days=32)).replace(day=1),
        "BillingPeriodStart": month,
        "ChargeCategory": "Usage",
        "ChargeClass": None,
        "ChargeDescription": f"{model} ({provider}): {kind.meter.lower()}",
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": start + step,
        "ChargePeriodStart": start,
        "ConsumedQuantity": quantity,
        "ConsumedUnit": unit,
        "ContractedCost": cost,
        "ContractedUnitPrice": effective_price,
        "EffectiveCost": cost,
        "InvoiceIssuerName": provider,
        "ListCost": list_cost,
        "ListUnitPrice": list_price,
        "PricingCategory": "Standard",
        "PricingQuantity": pricing_quantity,
        "PricingUnit": pricing_unit,
        "ProviderName": provider,
        "PublisherName": provider,
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": f"{provider} model inference",
        "ServiceSubcategory": "Generative AI",
        "SkuId": f"{provider}/{model}",
        "SkuMeter": kind.meter,
        "SkuPriceId": f"{provider}/{model}/{kind.key}",
        "x_Feature": feature,
        "x_Tenant": part.get("tenant"),
        "x_Environment": part.get("environment"),
        "x_ValueUnit": value_units.get(feature) if feature is not None else None,
        "x_CostSource": source,
        "x_TokenDirection": kind.direction,
        "x_CacheAction": kind.cache,
        "x_Calls": int(part["calls"]),
    }


def column_types() -> Sequence[tuple[str, str]]:
    """Every exported column with its FOCUS data type, in order."""
    return (*COLUMNS, *CUSTOM_COLUMNS)
