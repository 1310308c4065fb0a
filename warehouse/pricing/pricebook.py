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
  output rate, exactly as genai-prices' usage decomposition does; an audio or image price
  to the input or output rate. Request-context price variants (flex, priority, batch)
  become periods of their service tier (`warehouse.pricing.tiers`).
- overrides: the user's prices, from `<data_dir>/prices.toml` (or `.yaml`) and the API. An
  exact override also covers its family's snapshots and aliases (`warehouse.pricing.coverage`).
  Each is in effect over [effective_from, effective_until) and may carry tiers (input-token
  bands, the catalog's cliff rule). Precedence at a call's start time: among the overrides
  that cover the call and are in effect, an exact name beats a family, a family beats a
  pattern, then the later `effective_from` wins (from its date on), then the later-created
  override. An override in effect beats the catalog; where none is in effect (before the
  first, after the last one ends), the catalog prices.

Everything here is pure: `warehouse.pricing.job` stores the periods and prices calls with them.
The value types are in `warehouse.pricing.periods`, the catalog side in `warehouse.pricing.catalog`;
this module holds the overrides and their precedence over the catalog.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

import genai_prices

from warehouse.pricing.catalog import PROVIDER_IDS, Catalog, CatalogMatch
from warehouse.pricing.coverage import RANKS, Coverage, family_covers
from warehouse.pricing.periods import Period, Rates, fallback, merge_adjacent
from warehouse.pricing.tiers import TIERS, fallback_tier, one_hour_fallback

# The price book's surface, with the value and catalog types its signatures use.
__all__ = [
    "ANY_PROVIDER",
    "CATALOG_VERSION",
    "MATCH_KINDS",
    "RESOLVER_VERSION",
    "SINCE_ALWAYS",
    "Catalog",
    "CatalogMatch",
    "Coverage",
    "MatchKind",
    "Override",
    "OverrideTier",
    "Period",
    "PriceBook",
    "Rates",
    "resolve",
]

MatchKind = Literal["exact", "glob", "regex"]
MATCH_KINDS: tuple[MatchKind, ...] = ("exact", "glob", "regex")

CATALOG_VERSION = genai_prices.__version__
# Bump when the catalog flattening (`warehouse.pricing.catalog`) or override matching
# changes, so stored periods are rebuilt on upgrade (2: $0 catalog models, family overrides;
# 3: service tier periods, 1-hour cache write, audio, image and web search rates).
RESOLVER_VERSION = 3
# An override without an effective date applies to all history.
SINCE_ALWAYS = dt.datetime(1970, 1, 1)
ANY_PROVIDER = "*"


@dataclass(frozen=True)
class OverrideTier:
    """An override's price for calls whose total input tokens (cache included) exceed
    `start`: as the catalog's tiers, it applies to all of the call's tokens."""

    start: int
    input_mtok: Decimal
    output_mtok: Decimal
    cache_read_mtok: Decimal | None = None
    cache_write_mtok: Decimal | None = None
    reasoning_mtok: Decimal | None = None

    def rates(self) -> Rates:
        return _rates(self)


@dataclass(frozen=True)
class Override:
    """A user's price. `id` is None until stored; prices are per million tokens. In effect
    over [effective_from, effective_until) (None: no end)."""

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
    effective_until: dt.datetime | None = None
    tiers: tuple[OverrideTier, ...] = ()

    def matches(self, provider: str, model: str) -> bool:
        """Whether the override's provider and name or pattern match, families aside."""
        if self.provider != ANY_PROVIDER and self.provider != provider.lower():
            return False
        return _model_matcher(self.match_kind, self.model_pattern)(model.lower())

    def coverage(self, provider: str, model: str, catalog: Catalog | None) -> Coverage | None:
        """How the override covers a span's (provider, model), if it does."""
        if self.provider != ANY_PROVIDER and self.provider != provider.lower():
            return None
        if self.match_kind != "exact":
            return "pattern" if self.matches(provider, model) else None
        if model.lower() == self.model_pattern.lower():
            return "exact"
        return "family" if family_covers(self.model_pattern, provider, model, catalog) else None

    def in_effect(self, instant: dt.datetime) -> bool:
        ends = self.effective_until
        return self.effective_from <= instant and (ends is None or instant < ends)

    def rates(self) -> Rates:
        return _rates(self)

    def bands(self) -> list[tuple[int, int | None, Rates]]:
        """Input-token bands [min, max) and their rates: the base, then each tier."""
        edges = [0, *(tier.start + 1 for tier in self.tiers)]
        rates = [self.rates(), *(tier.rates() for tier in self.tiers)]
        return [
            (low, edges[index + 1] if index + 1 < len(edges) else None, rates[index])
            for index, low in enumerate(edges)
        ]

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
            self.effective_until,
            self.tiers,
        )


def _rates(price: Override | OverrideTier) -> Rates:
    return Rates(
        input_mtok=price.input_mtok,
        cache_read_mtok=fallback(price.cache_read_mtok, price.input_mtok),
        cache_write_mtok=fallback(price.cache_write_mtok, price.input_mtok),
        output_mtok=price.output_mtok,
        reasoning_mtok=fallback(price.reasoning_mtok, price.output_mtok),
    )


@functools.lru_cache(maxsize=4096)
def _model_matcher(kind: MatchKind, pattern: str) -> Callable[[str], bool]:
    lowered = pattern.lower()
    if kind == "exact":
        return lambda model: model == lowered
    if kind == "glob":
        return lambda model: fnmatch.fnmatchcase(model, lowered)
    compiled = re.compile(pattern, re.IGNORECASE)
    return lambda model: compiled.fullmatch(model) is not None


# ---- overrides on top of the catalog ----------------------------------------------------


Covered = tuple[Override, Coverage]


def _precedence(covered: Covered) -> tuple[int, dt.datetime, int]:
    override, how = covered
    return (RANKS[how], override.effective_from, override.id or 0)


def _window(periods: Iterable[Period], start: dt.datetime, end: dt.datetime | None) -> list[Period]:
    """The periods' parts inside [start, end) (end None: open)."""
    inside = []
    for period in periods:
        if end is not None and period.effective_from is not None and period.effective_from >= end:
            continue
        if period.effective_to is not None and period.effective_to <= start:
            continue
        begins = period.effective_from
        ends = period.effective_to
        inside.append(
            replace(
                period,
                effective_from=start if begins is None or begins < start else begins,
                effective_to=end if ends is None or (end is not None and ends > end) else ends,
            )
        )
    return inside


def _before(periods: Iterable[Period], end: dt.datetime) -> list[Period]:
    clipped = []
    for period in periods:
        if period.effective_from is not None and period.effective_from >= end:
            continue
        if period.effective_to is None or period.effective_to > end:
            period = replace(period, effective_to=end)
        clipped.append(period)
    return clipped


def _override_periods(
    override: Override, start: dt.datetime, end: dt.datetime | None, provider_id: str | None
) -> list[Period]:
    """The override's bands, standard and per tier: an override is the standard price, its
    tiers follow from it by the published rules (`warehouse.pricing.tiers`), flagged."""
    periods = []
    for low, high, standard in override.bands():
        standard = one_hour_fallback(standard, provider_id)
        tiers: list[tuple[str | None, Rates, str | None]] = [(None, standard, None)]
        tiers += [(tier, *fallback_tier(standard, tier, provider_id)) for tier in TIERS]
        periods += [
            Period(
                effective_from=start,
                effective_to=end,
                time_of_day_from=None,
                time_of_day_to=None,
                min_input_tokens=low,
                max_input_tokens=high,
                source="override",
                override_id=override.id,
                catalog_provider=None,
                catalog_model=None,
                rates=rates,
                service_tier=tier,
                tier_assumption=assumption,
                cache_write_1h_assumed=True,
            )
            for tier, rates, assumption in tiers
        ]
    return periods


def resolve(
    catalog: list[Period], covering: Sequence[Covered], provider_id: str | None = None
) -> list[Period]:
    """The periods of one price key: the catalog's, overridden wherever an override that
    covers the key (`covering`, with how it covers it) is in effect. `provider_id` (a
    genai-prices id) picks the tier and 1-hour fallbacks of the override's periods."""
    if not covering:
        return catalog
    edges = sorted(
        {o.effective_from for o, _ in covering}
        | {o.effective_until for o, _ in covering if o.effective_until is not None}
    )
    periods = _before(catalog, edges[0])
    for index, start in enumerate(edges):
        end = edges[index + 1] if index + 1 < len(edges) else None
        in_effect = [c for c in covering if c[0].in_effect(start)]
        if in_effect:
            chosen = max(in_effect, key=_precedence)[0]
            periods.extend(_override_periods(chosen, start, end, provider_id))
        else:
            periods.extend(_window(catalog, start, end))
    return merge_adjacent(periods)


@dataclass(frozen=True)
class PriceBook:
    """The catalog and the current overrides; `fingerprint` changes when either does."""

    catalog: Catalog
    overrides: tuple[Override, ...]

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{self.catalog.key}|{RESOLVER_VERSION}".encode())
        for override in sorted(self.overrides, key=lambda o: o.id or 0):
            digest.update(repr((override.id, override.identity())).encode())
        return digest.hexdigest()[:32]

    def resolve(self, provider: str, model: str) -> tuple[CatalogMatch | None, list[Period]]:
        match = self.catalog.find(provider, model)
        catalog = self.catalog.periods(match) if match is not None else []
        covering = [
            (o, how) for o in self.overrides if (how := o.coverage(provider, model, self.catalog))
        ]
        provider_id = match.provider.id if match else PROVIDER_IDS.get(provider, provider)
        return match, resolve(catalog, covering, provider_id)
