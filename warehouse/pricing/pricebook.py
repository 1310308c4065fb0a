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

from warehouse.pricing.catalog import Catalog, CatalogMatch
from warehouse.pricing.periods import Period, Rates, fallback

# The price book's surface, with the value and catalog types its signatures use.
__all__ = [
    "ANY_PROVIDER",
    "CATALOG_VERSION",
    "MATCH_KINDS",
    "RESOLVER_VERSION",
    "SINCE_ALWAYS",
    "Catalog",
    "CatalogMatch",
    "MatchKind",
    "Override",
    "Period",
    "PriceBook",
    "Rates",
    "resolve",
]

MatchKind = Literal["exact", "glob", "regex"]
MATCH_KINDS: tuple[MatchKind, ...] = ("exact", "glob", "regex")

CATALOG_VERSION = genai_prices.__version__
# Bump when the catalog flattening (`warehouse.pricing.catalog`) changes, so stored periods
# are rebuilt on upgrade.
RESOLVER_VERSION = 1
# An override without an effective date applies to all history.
SINCE_ALWAYS = dt.datetime(1970, 1, 1)
ANY_PROVIDER = "*"


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
            cache_read_mtok=fallback(self.cache_read_mtok, self.input_mtok),
            cache_write_mtok=fallback(self.cache_write_mtok, self.input_mtok),
            output_mtok=self.output_mtok,
            reasoning_mtok=fallback(self.reasoning_mtok, self.output_mtok),
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
