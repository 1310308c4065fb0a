"""The price book: which price applies to a (provider, model) as seen in spans, and when.

Two sources, resolved here into flat, effective-dated `Period`s that SQL can join on:

- the catalog: the `genai-prices` data bundled with the installed package (never fetched:
  `UpdatePrices` is never called). A (provider, model) is matched with genai-prices' own
  logic (provider by id or alias, then `Provider.find_model`, with its fallback providers).
  Its `ConditionalPrice`s become periods: a `StartDateConstraint` starts a period at UTC
  midnight of its date; a `TimeOfDateConstraint` (DeepSeek off-peak) becomes a UTC
  time-of-day window. `TieredPrices` become input-token bands: as in genai-prices'
  `calc_unit_price`, once a call's total input tokens (cache included) exceed a tier's start,
  the tier's rate applies to all of the call's tokens of that price. A cache read or write
  price the model does not have falls back to the input rate, and a reasoning price to the
  output rate, exactly as genai-prices' usage decomposition does. Request-context price
  variants (batch, flex, priority) are not applied: they are what overrides are for.
- overrides: the user's prices, from `<data_dir>/prices.toml` (or `.yaml`) and the API.
  Precedence at a call's start time: among the overrides that match the call and are in
  effect, an exact model name beats a pattern, then the later `effective_from` wins (from
  its date on), then the later-created override. An override in effect beats the catalog;
  before the first matching override takes effect, the catalog prices.

Everything here is pure: `warehouse.pricing.job` stores the periods and prices calls with them.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal

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

MatchKind = Literal["exact", "glob", "regex"]
MATCH_KINDS: tuple[MatchKind, ...] = ("exact", "glob", "regex")
Source = Literal["catalog", "override"]

CATALOG_VERSION = genai_prices.__version__
# Bump when the flattening below changes, so stored periods are rebuilt on upgrade.
RESOLVER_VERSION = 1
# An override without an effective date applies to all history.
SINCE_ALWAYS = dt.datetime(1970, 1, 1)
ANY_PROVIDER = "*"

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
class Rates:
    """USD per million tokens (per 1,000 calls for `requests_kcount`), fallbacks applied."""

    input_mtok: Decimal
    cache_read_mtok: Decimal
    cache_write_mtok: Decimal
    output_mtok: Decimal
    reasoning_mtok: Decimal
    requests_kcount: Decimal = Decimal(0)

    def values(self) -> tuple[Decimal, ...]:
        return (
            self.input_mtok,
            self.cache_read_mtok,
            self.cache_write_mtok,
            self.output_mtok,
            self.reasoning_mtok,
            self.requests_kcount,
        )

    def key(self) -> tuple[Decimal, ...]:
        """Normalized, so '2.50' (as stored) and '2.5' (as published) are the same price."""
        return tuple(value.normalize() for value in self.values())


@dataclass(frozen=True)
class Period:
    """One resolved price: [effective_from, effective_to) (None: open), an optional UTC
    time-of-day window [time_of_day_from, time_of_day_to) and a band of total input tokens
    [min_input_tokens, max_input_tokens)."""

    effective_from: dt.datetime | None
    effective_to: dt.datetime | None
    time_of_day_from: dt.time | None
    time_of_day_to: dt.time | None
    min_input_tokens: int
    max_input_tokens: int | None
    source: Source
    override_id: int | None
    catalog_provider: str | None
    catalog_model: str | None
    rates: Rates

    def cell(self) -> tuple[object, ...]:
        """What prices a call inside the period, whatever the period's date range."""
        return (
            self.time_of_day_from,
            self.time_of_day_to,
            self.min_input_tokens,
            self.max_input_tokens,
            self.source,
            self.override_id,
            self.rates.key(),
        )

    def covers(self, instant: dt.datetime | None) -> bool:
        """Whether the period is in effect at `instant` (None: the beginning of time)."""
        if instant is None:
            return self.effective_from is None
        starts = self.effective_from is None or self.effective_from <= instant
        return starts and (self.effective_to is None or instant < self.effective_to)


@dataclass(frozen=True)
class Override:
    """A user's price. `id` is None until stored; prices are per million tokens."""

    provider: str
    model_pattern: str
    match_kind: MatchKind
    input_mtok: Decimal
    output_mtok: Decimal
    cache_read_mtok: Decimal | None = None
    cache_write_mtok: Decimal | None = None
    reasoning_mtok: Decimal | None = None
    effective_from: dt.datetime = SINCE_ALWAYS
    note: str | None = None
    id: int | None = None

    def matches(self, provider: str, model: str) -> bool:
        if self.provider != ANY_PROVIDER and self.provider != provider.lower():
            return False
        return _model_matcher(self.match_kind, self.model_pattern)(model.lower())

    def rates(self) -> Rates:
        return Rates(
            input_mtok=self.input_mtok,
            cache_read_mtok=_or(self.cache_read_mtok, self.input_mtok),
            cache_write_mtok=_or(self.cache_write_mtok, self.input_mtok),
            output_mtok=self.output_mtok,
            reasoning_mtok=_or(self.reasoning_mtok, self.output_mtok),
        )

    def identity(self) -> tuple[object, ...]:
        """Everything but the id: two overrides with the same identity are the same price."""
        return (
            self.provider,
            self.model_pattern,
            self.match_kind,
            self.input_mtok,
            self.output_mtok,
            self.cache_read_mtok,
            self.cache_write_mtok,
            self.reasoning_mtok,
            self.effective_from,
            self.note,
        )


@dataclass(frozen=True)
class CatalogMatch:
    provider: Provider
    model: ModelInfo


def _or(value: Decimal | None, default: Decimal) -> Decimal:
    return default if value is None else value


@functools.lru_cache(maxsize=4096)
def _model_matcher(kind: MatchKind, pattern: str) -> Callable[[str], bool]:
    lowered = pattern.lower()
    if kind == "exact":
        return lambda model: model == lowered
    if kind == "glob":
        return lambda model: fnmatch.fnmatchcase(model, lowered)
    compiled = re.compile(pattern, re.IGNORECASE)
    return lambda model: compiled.fullmatch(model) is not None


class Catalog:
    """The bundled genai-prices data, with genai-prices' own provider and model matching."""

    def __init__(self, providers: list[Provider] | None = None) -> None:
        self._snapshot = DataSnapshot(
            providers=catalog_data.providers if providers is None else providers,
            from_auto_update=False,
        )

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
)


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


def _bands(model_price: ModelPrice) -> list[tuple[int, int | None, Rates | None]]:
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
        bands.append((low, high, _rates(model_price, low)))
    return bands


def _rates(model_price: ModelPrice, input_tokens: int) -> Rates | None:
    def at(key: str) -> Decimal | None:
        return _price_at(getattr(model_price, key), input_tokens)

    found = {key: at(key) for key in _TIERED_KEYS}
    if all(value is None for value in found.values()):
        return None  # priced by audio, images, searches...: not by tokens
    zero = Decimal(0)
    input_rate = _or(found["input_mtok"], zero)
    output_rate = _or(found["output_mtok"], zero)
    return Rates(
        input_mtok=input_rate,
        cache_read_mtok=_or(found["cache_read_mtok"], input_rate),
        cache_write_mtok=_or(found["cache_write_mtok"], input_rate),
        output_mtok=output_rate,
        reasoning_mtok=_or(found["output_reasoning_mtok"], output_rate),
        requests_kcount=_or(found["requests_kcount"], zero),
    )


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
        windows: list[tuple[dt.time | None, dt.time | None, list[Any]]] = []
        for t_index, t_start in enumerate(times):
            t_end = times[t_index + 1] if t_index + 1 < len(times) else None
            sample = dt.datetime.combine(sample_day, t_start, tzinfo=dt.UTC)
            bands = _bands(match.model.get_prices(sample))
            if windows and windows[-1][2] == bands:
                windows[-1] = (windows[-1][0], t_end, bands)
            else:
                windows.append((t_start, t_end, bands))
        whole_day = len(windows) == 1
        for w_start, w_end, w_bands in windows:
            for low, high, rates in w_bands:
                if rates is None:
                    continue
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
                    )
                )
    return merge_adjacent(periods)


def merge_adjacent(periods: Iterable[Period]) -> list[Period]:
    """Join consecutive date ranges whose cells are identical (a price that did not change)."""
    by_start: dict[dt.datetime | None, list[Period]] = {}
    order: list[dt.datetime | None] = []
    for period in periods:
        if period.effective_from not in by_start:
            order.append(period.effective_from)
            by_start[period.effective_from] = []
        by_start[period.effective_from].append(period)
    merged: list[list[Period]] = []
    for start in order:
        group = by_start[start]
        contiguous = bool(merged) and merged[-1][0].effective_to == start
        if contiguous and [p.cell() for p in merged[-1]] == [p.cell() for p in group]:
            end = group[0].effective_to
            merged[-1] = [replace(p, effective_to=end) for p in merged[-1]]
        else:
            merged.append(group)
    return [period for group in merged for period in group]


# ---- overrides on top of the catalog ----------------------------------------------------


def _precedence(override: Override) -> tuple[bool, dt.datetime, int]:
    return (override.match_kind == "exact", override.effective_from, override.id or 0)


def _clip(periods: Iterable[Period], end: dt.datetime) -> list[Period]:
    clipped = []
    for period in periods:
        if period.effective_from is not None and period.effective_from >= end:
            continue
        if period.effective_to is None or period.effective_to > end:
            period = replace(period, effective_to=end)
        clipped.append(period)
    return clipped


def resolve(catalog: list[Period], overrides: Sequence[Override]) -> list[Period]:
    """The periods of one price key: the catalog's, overridden from the first matching
    override's date on (`overrides` are the ones that match the key)."""
    if not overrides:
        return catalog
    starts = sorted({o.effective_from for o in overrides})
    periods = _clip(catalog, starts[0])
    previous: Override | None = None
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else None
        winner = max((o for o in overrides if o.effective_from <= start), key=_precedence)
        if previous is winner:
            periods[-1] = replace(periods[-1], effective_to=end)
            continue
        previous = winner
        periods.append(
            Period(
                effective_from=start,
                effective_to=end,
                time_of_day_from=None,
                time_of_day_to=None,
                min_input_tokens=0,
                max_input_tokens=None,
                source="override",
                override_id=winner.id,
                catalog_provider=None,
                catalog_model=None,
                rates=winner.rates(),
            )
        )
    return periods


def first_difference(
    old: Sequence[Period], new: Sequence[Period]
) -> tuple[bool, dt.datetime | None]:
    """(changed, since): whether any call could be priced differently, and from when on
    (None: from the beginning). Calls before `since` keep exactly the price they had."""
    edges = sorted(
        {
            edge
            for period in (*old, *new)
            for edge in (period.effective_from, period.effective_to)
            if edge is not None
        }
    )
    for instant in (None, *edges):
        before = sorted((p.cell() for p in old if p.covers(instant)), key=repr)
        after = sorted((p.cell() for p in new if p.covers(instant)), key=repr)
        if before != after:
            return True, instant
    return False, None


@dataclass(frozen=True)
class PriceBook:
    """The catalog and the current overrides; `fingerprint` changes when either does."""

    catalog: Catalog
    overrides: tuple[Override, ...]

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{CATALOG_VERSION}|{RESOLVER_VERSION}".encode())
        for override in sorted(self.overrides, key=lambda o: o.id or 0):
            digest.update(repr((override.id, override.identity())).encode())
        return digest.hexdigest()[:32]

    def resolve(self, provider: str, model: str) -> tuple[CatalogMatch | None, list[Period]]:
        match = self.catalog.find(provider, model)
        catalog = self.catalog.periods(match) if match is not None else []
        overrides = [o for o in self.overrides if o.matches(provider, model)]
        return match, resolve(catalog, overrides)
