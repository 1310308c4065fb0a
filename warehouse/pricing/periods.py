"""Resolved prices: `Rates` (per million tokens, fallbacks applied) and `Period`s (a rate set
over a date range, a UTC time-of-day window and an input-token band), with the comparisons the
pricing job needs: merging unchanged date ranges and finding the first instant two sets of
periods price a call differently. Pure values; `warehouse.pricing.pricebook` produces them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import Literal

Source = Literal["catalog", "override"]


def fallback(value: Decimal | None, default: Decimal) -> Decimal:
    """`value`, or `default` when there is none (a cache price falls back to the input price)."""
    return default if value is None else value


@dataclass(frozen=True)
class Rates:
    """USD per million tokens (per 1,000 calls for `requests_kcount`, per 1,000 searches for
    `web_searches_kcount`), fallbacks applied. A rate left None by a constructor that does
    not know it takes its text fallback in `__post_init__` (1-hour cache writes: the cache
    write rate; audio and image: the input or output rate; web searches: 0)."""

    input_mtok: Decimal
    cache_read_mtok: Decimal
    cache_write_mtok: Decimal
    output_mtok: Decimal
    reasoning_mtok: Decimal
    requests_kcount: Decimal = Decimal(0)
    cache_write_1h_mtok: Decimal = None  # type: ignore[assignment]  # set in __post_init__
    input_audio_mtok: Decimal = None  # type: ignore[assignment]
    output_audio_mtok: Decimal = None  # type: ignore[assignment]
    input_image_mtok: Decimal = None  # type: ignore[assignment]
    output_image_mtok: Decimal = None  # type: ignore[assignment]
    web_searches_kcount: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        defaults = {
            "cache_write_1h_mtok": self.cache_write_mtok,
            "input_audio_mtok": self.input_mtok,
            "input_image_mtok": self.input_mtok,
            "output_audio_mtok": self.output_mtok,
            "output_image_mtok": self.output_mtok,
        }
        for name, default in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)

    def values(self) -> tuple[Decimal, ...]:
        """The rates in `RATE_COLUMNS` order."""
        return tuple(getattr(self, name) for name in RATE_COLUMNS)

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
    service_tier: str | None = None  # the tier the period prices; None: standard
    tier_assumption: str | None = None  # why its tier price is not the catalog's own
    cache_write_1h_assumed: bool = False  # the 1-hour cache write rate is a fallback

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
            self.service_tier,
            self.tier_assumption,
            self.cache_write_1h_assumed,
        )

    def covers(self, instant: dt.datetime | None) -> bool:
        """Whether the period is in effect at `instant` (None: the beginning of time)."""
        if instant is None:
            return self.effective_from is None
        starts = self.effective_from is None or self.effective_from <= instant
        return starts and (self.effective_to is None or instant < self.effective_to)


# The rate columns of `price_periods`, named and ordered as `Rates`' fields.
RATE_COLUMNS: tuple[str, ...] = tuple(field.name for field in fields(Rates))


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
