"""The catalog: genai-prices data (bundled with the installed package, or a data file the user
supplies: `warehouse.pricing.catalog_file`), its provider and model matching, and the
flattening of a catalog model's prices into `Period`s. The rules are in
`warehouse.pricing.pricebook`'s docstring.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

import genai_prices
from genai_prices import data as catalog_data
from genai_prices.data_snapshot import DataSnapshot
from genai_prices.types import (
    ConditionalPrice,
    ModelInfo,
    ModelPrice,
    Provider,
    StartDateConstraint,
    TieredPrices,
    TimeOfDateConstraint,
)

from warehouse.pricing.periods import Period, Rates, fallback, merge_adjacent
from warehouse.pricing.tiers import TIER_CONTEXTS, fallback_tier, one_hour_fallback

# OpenTelemetry `gen_ai.provider.name` values (as normalized by the collector) -> genai-prices
# provider ids. Names not listed are looked up by genai-prices itself (id, then alias).
PROVIDER_IDS: Mapping[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "aws.bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "x_ai": "x-ai",
    "mistral_ai": "mistral",
    "moonshot_ai": "moonshotai",
    "deepseek": "deepseek",
    "groq": "groq",
    "cohere": "cohere",
    "perplexity": "perplexity",
}


@dataclass(frozen=True)
class CatalogMatch:
    provider: Provider
    model: ModelInfo


BUNDLED = f"bundled:{genai_prices.__version__}"


class Catalog:
    """genai-prices data with genai-prices' own provider and model matching. `key` names the
    data: `bundled:<version>` for the installed package's, else the data file's SHA-256."""

    def __init__(self, providers: list[Provider] | None = None, key: str | None = None) -> None:
        self._snapshot = DataSnapshot(
            providers=catalog_data.providers if providers is None else providers,
            from_auto_update=False,
        )
        self.key = key or (BUNDLED if providers is None else "custom")

    @property
    def providers(self) -> list[Provider]:
        return self._snapshot.providers

    def model_key(self, provider: str, model: str) -> object | None:
        """The identity of the catalog model `model` resolves to (None: no model)."""
        match = self.find(provider, model)
        return None if match is None else id(match.model)

    def find(self, provider: str, model: str) -> CatalogMatch | None:
        """The catalog model for a provider (OTel name) and model as seen in spans."""
        if not model:
            return None
        provider_id = PROVIDER_IDS.get(provider, provider) or None
        for ref in _model_refs(model):
            try:
                found, info = self._snapshot.find_provider_model(ref, None, provider_id, None)
            except LookupError:
                continue
            return CatalogMatch(found, info)
        return None

    def periods(self, match: CatalogMatch) -> list[Period]:
        return catalog_periods(match)


def _model_refs(model: str) -> list[str]:
    """The model as sent, then without a routing prefix (`models/gemini-2.5-pro`)."""
    refs = [model]
    if "/" in model:
        refs.append(model.rsplit("/", 1)[1])
    return refs


@functools.cache
def default_catalog() -> Catalog:
    return Catalog()


# ---- catalog prices -> periods ----------------------------------------------------------

_TIERED_KEYS = (
    "input_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "output_mtok",
    "output_reasoning_mtok",
    "requests_kcount",
    "cache_write_1h_mtok",
    "input_audio_mtok",
    "output_audio_mtok",
    "input_image_mtok",
    "output_image_mtok",
    "web_searches_kcount",
)
# What the price of one cell holds: (tier, band min, band max, rates, tier assumption,
# 1-hour rate assumed); tier None is the standard one.
CellBand = tuple[str | None, int, int | None, Rates, str | None, bool]


def _conditional(model: ModelInfo) -> list[ConditionalPrice]:
    if isinstance(model.prices, ModelPrice):
        return [ConditionalPrice(prices=model.prices)]
    return list(model.prices)


def _utc_time(value: dt.time) -> dt.time:
    if value.tzinfo is None:
        return value
    moment = dt.datetime.combine(dt.date(1970, 1, 1), value).astimezone(dt.UTC)
    return moment.time()


def _price_at(price: Decimal | TieredPrices | None, input_tokens: int) -> Decimal | None:
    """genai-prices' `calc_unit_price` tier choice: the highest tier whose start the call's
    total input tokens exceed."""
    if price is None or not isinstance(price, TieredPrices):
        return price
    for tier in reversed(price.tiers):
        if input_tokens > tier.start:
            return tier.price
    return price.base


def _bands(model_price: ModelPrice, provider_id: str) -> list[tuple[int, int | None, Rates | None]]:
    """Input-token bands [min, max) with the rates that apply in each (None: no token price)."""
    starts = sorted(
        {
            tier.start + 1
            for key in _TIERED_KEYS
            if isinstance(price := getattr(model_price, key), TieredPrices)
            for tier in price.tiers
        }
    )
    edges = [0, *starts]
    bands: list[tuple[int, int | None, Rates | None]] = []
    for index, low in enumerate(edges):
        high = edges[index + 1] if index + 1 < len(edges) else None
        bands.append((low, high, _rates(model_price, low, provider_id)))
    return bands


def _rates(model_price: ModelPrice, input_tokens: int, provider_id: str) -> Rates | None:
    def at(key: str) -> Decimal | None:
        return _price_at(getattr(model_price, key), input_tokens)

    found = {key: at(key) for key in _TIERED_KEYS}
    zero = Decimal(0)
    if all(value is None for value in found.values()):
        priced = {k: v for k, v in vars(model_price).items() if not k.startswith("_")}
        if any(value is not None for value in priced.values()):
            return None  # priced by audio seconds, characters, pages...: not by tokens
        # No price at all (`:free` models, moderation): genai-prices charges $0.
        return Rates(zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero)
    input_rate = fallback(found["input_mtok"], zero)
    output_rate = fallback(found["output_mtok"], zero)
    rates = Rates(
        input_mtok=input_rate,
        cache_read_mtok=fallback(found["cache_read_mtok"], input_rate),
        cache_write_mtok=fallback(found["cache_write_mtok"], input_rate),
        output_mtok=output_rate,
        reasoning_mtok=fallback(found["output_reasoning_mtok"], output_rate),
        requests_kcount=fallback(found["requests_kcount"], zero),
        input_audio_mtok=fallback(found["input_audio_mtok"], input_rate),
        output_audio_mtok=fallback(found["output_audio_mtok"], output_rate),
        input_image_mtok=fallback(found["input_image_mtok"], input_rate),
        output_image_mtok=fallback(found["output_image_mtok"], output_rate),
        web_searches_kcount=fallback(found["web_searches_kcount"], zero),
    )
    one_hour = found["cache_write_1h_mtok"]
    return (
        one_hour_fallback(rates, provider_id)
        if one_hour is None
        else replace(rates, cache_write_1h_mtok=one_hour)
    )


def _variant_active(model: ModelInfo, context: Mapping[str, str], instant: dt.datetime) -> bool:
    """Whether genai-prices has a price variant of the model for `context` at `instant`."""
    for variant in model.price_variants or ():
        if variant.constraint is not None and not variant.constraint.active(instant):
            continue
        if all(context.get(key) == value for key, value in variant.when.items()):
            return True
    return False


def _cell_bands(match: CatalogMatch, instant: dt.datetime) -> list[CellBand]:
    """Every tier's bands at `instant`: the catalog's variant where it has one, else the
    standard bands by the documented fallback (`warehouse.pricing.tiers`)."""
    provider_id = match.provider.id
    standard_price = match.model.get_prices(instant)
    one_hour_assumed = _price_at(standard_price.cache_write_1h_mtok, 0) is None
    standard = [
        (low, high, rates)
        for low, high, rates in _bands(standard_price, provider_id)
        if rates is not None
    ]
    cell: list[CellBand] = [
        (None, low, high, rates, None, one_hour_assumed) for low, high, rates in standard
    ]
    for tier, context in TIER_CONTEXTS.items():
        if _variant_active(match.model, context, instant):
            price = match.model.get_prices(instant, context)
            assumed = _price_at(price.cache_write_1h_mtok, 0) is None
            for low, high, rates in _bands(price, provider_id):
                if rates is not None:
                    cell.append((tier, low, high, rates, None, assumed))
        else:
            for low, high, rates in standard:
                tier_rates, flag = fallback_tier(rates, tier, provider_id)
                cell.append((tier, low, high, tier_rates, flag, one_hour_assumed))
    return cell


def catalog_periods(match: CatalogMatch) -> list[Period]:
    """Flatten a catalog model's prices by sampling genai-prices' own `get_prices` once per
    cell (date segment x time-of-day window x tier band): constraints only change at the
    cell edges, so the sample is the price of the whole cell."""
    conditional = _conditional(match.model)
    dates = sorted(
        {
            c.constraint.start_date
            for c in conditional
            if isinstance(c.constraint, StartDateConstraint)
        }
        | {
            v.constraint.start_date
            for v in match.model.price_variants or ()
            if isinstance(v.constraint, StartDateConstraint)
        }
    )
    times = sorted(
        {
            _utc_time(edge)
            for c in conditional
            if isinstance(c.constraint, TimeOfDateConstraint)
            for edge in (c.constraint.start_time, c.constraint.end_time)
        }
        | {dt.time(0)}
    )
    boundaries = [dt.datetime.combine(day, dt.time(0)) for day in dates]
    starts: list[dt.datetime | None] = [None, *boundaries]
    periods: list[Period] = []
    for index, start in enumerate(starts):
        end = boundaries[index] if index < len(boundaries) else None
        sample_day = (
            start.date()
            if start is not None
            else (dates[0] - dt.timedelta(days=1) if dates else dt.date(2000, 1, 1))
        )
        windows: list[tuple[dt.time | None, dt.time | None, list[CellBand]]] = []
        for t_index, t_start in enumerate(times):
            t_end = times[t_index + 1] if t_index + 1 < len(times) else None
            sample = dt.datetime.combine(sample_day, t_start, tzinfo=dt.UTC)
            bands = _cell_bands(match, sample)
            if windows and windows[-1][2] == bands:
                windows[-1] = (windows[-1][0], t_end, bands)
            else:
                windows.append((t_start, t_end, bands))
        whole_day = len(windows) == 1
        for w_start, w_end, w_bands in windows:
            for tier, low, high, rates, assumption, one_hour_assumed in w_bands:
                periods.append(
                    Period(
                        effective_from=start,
                        effective_to=end,
                        time_of_day_from=None if whole_day or w_start == dt.time(0) else w_start,
                        time_of_day_to=None if whole_day else w_end,
                        min_input_tokens=low,
                        max_input_tokens=high,
                        source="catalog",
                        override_id=None,
                        catalog_provider=match.provider.id,
                        catalog_model=match.model.id,
                        rates=rates,
                        service_tier=tier,
                        tier_assumption=assumption,
                        cache_write_1h_assumed=one_hour_assumed,
                    )
                )
    return merge_adjacent(periods)
