"""Service tiers and 1-hour cache writes: prices the catalog gives, and the documented
fallbacks where it does not.

A call's stored `service_tier` (`flex`, `priority`, `batch`; `default` and NULL are standard)
selects the price period of that tier. The catalog's tier prices are genai-prices'
`price_variants` (`{'service_tier': 'flex'}`, `{'service_tier': 'priority'}`,
`{'processing': 'batch'}`), each from its own start date. Where the catalog has no variant
for a model at a date, and for overrides (a negotiated price is the standard one), the tier
is priced from the standard rates by the provider's published rule and the period says so
(`tier_assumption`):

- flex and batch: 50% of standard (OpenAI Flex processing and Batch API, Anthropic Message
  Batches, Gemini Batch Mode, all "50% discount");
- priority: OpenAI publishes Priority processing at about twice the standard price (gpt-5:
  $2.50 against $1.25 per million input tokens; genai-prices' own variants give 1.7x to 2x
  by model): 2x. Other providers publish no list price for it (Anthropic Priority Tier is a
  commitment): standard, flagged `tier_unpriced`.

Tiers the catalog does not price at all (`scale`: prepaid units) are priced standard and
flagged by the pricing SQL. 1-hour cache writes without a catalog price: Anthropic documents
them at 2x the base input price; other providers at their cache write rate; both flagged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from decimal import ROUND_HALF_EVEN, Decimal

from warehouse.pricing.periods import Rates

# The tiers priced apart from the standard one, and the genai-prices context of each.
TIER_CONTEXTS: Mapping[str, Mapping[str, str]] = {
    "flex": {"service_tier": "flex"},
    "priority": {"service_tier": "priority"},
    "batch": {"processing": "batch"},
}
TIERS: tuple[str, ...] = tuple(TIER_CONTEXTS)

TIER_ASSUMED = "tier_price_assumed"
TIER_UNPRICED = "tier_unpriced"
ONE_HOUR_ASSUMED = "cache_write_1h_price_assumed"

HALF = Decimal("0.5")
# Priority multipliers providers publish, by genai-prices provider id (docs/pricing.md).
PRIORITY_MULTIPLIERS: Mapping[str, Decimal] = {"openai": Decimal(2), "azure": Decimal(2)}
# Providers (genai-prices ids) whose 1-hour cache writes cost 2x the base input price.
ONE_HOUR_DOUBLE_INPUT = frozenset({"anthropic", "aws", "google"})


# Prices are stored with 18 decimal places (`PricePerMTok`): half of a catalog price that
# already uses all 18 is rounded to them (an error below 1e-18 USD per million tokens).
PLACES = Decimal("1e-18")


def _scaled(rates: Rates, factor: Decimal) -> Rates:
    """Token rates times `factor`; per-request and per-search fees stay."""
    scaled = {
        f.name: (getattr(rates, f.name) * factor).quantize(PLACES, ROUND_HALF_EVEN)
        for f in fields(Rates)
        if f.name.endswith("_mtok")
    }
    return replace(rates, **scaled)


def fallback_tier(rates: Rates, tier: str, provider_id: str | None) -> tuple[Rates, str]:
    """The tier's rates from the standard `rates` by the published rule, and its flag."""
    if tier in ("flex", "batch"):
        return _scaled(rates, HALF), TIER_ASSUMED
    factor = PRIORITY_MULTIPLIERS.get(provider_id or "")
    if factor is None:
        return rates, TIER_UNPRICED
    return _scaled(rates, factor), TIER_ASSUMED


def one_hour_fallback(rates: Rates, provider_id: str | None) -> Rates:
    """`rates` with the 1-hour cache write rate a catalog or override does not give."""
    if provider_id in ONE_HOUR_DOUBLE_INPUT:
        return replace(rates, cache_write_1h_mtok=rates.input_mtok * 2)
    return replace(rates, cache_write_1h_mtok=rates.cache_write_mtok)
