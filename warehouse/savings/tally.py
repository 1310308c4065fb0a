"""Savings of repriced calls, per group, per day and per month: the one sum every what-if
ends with. A call counts when both its recorded cost and its what-if cost are known; a call
either side cannot price is counted as unpriced and left out of the dollars (never $0)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import duckdb

from warehouse.core.clock import naive_utc
from warehouse.savings.interval import DAYS_PER_MONTH, MICRO, Monthly, monthly

TALLY = """
SELECT {keys}, day,
       count(*) AS calls,
       count(*) FILTER (WHERE NOT known) AS unpriced_calls,
       coalesce(sum(recorded_cost_usd) FILTER (WHERE known), 0) AS recorded_usd,
       coalesce(sum(what_if_cost_usd) FILTER (WHERE known), 0) AS what_if_usd
FROM (
    SELECT c.*, r.cost_usd AS what_if_cost_usd,
           c.recorded_cost_usd IS NOT NULL AND r.cost_usd IS NOT NULL AS known,
           -- The oldest day may be partial: a call before it (the first call exactly
           -- `days` days before the end) counts in it.
           least(floor(epoch($end - c.start_time) / 86400)::BIGINT, $days - 1) AS day
    FROM {calls} c JOIN {repriced} r USING (trace_id, span_id)
)
GROUP BY ALL
"""


@dataclass(frozen=True)
class GroupSaving:
    """The repriced calls of one group: counts, dollars over the history, per month."""

    key: tuple[str | None, ...]
    calls: int
    unpriced_calls: int
    recorded_usd: Decimal  # what the calls cost (the priced ones on both sides)
    what_if_usd: Decimal  # what they would have cost
    monthly_recorded_usd: Decimal
    saving: Monthly  # recorded - what-if, per month, with its interval
    by_day: Mapping[int, Decimal] = field(default_factory=dict, repr=False)

    @property
    def saving_usd(self) -> Decimal:
        return self.recorded_usd - self.what_if_usd


@dataclass
class _Sums:
    calls: int = 0
    unpriced: int = 0
    recorded: Decimal = Decimal(0)
    what_if: Decimal = Decimal(0)


def tally(
    cursor: duckdb.DuckDBPyConnection,
    calls: str,
    repriced: str,
    keys: Sequence[str],
    end: dt.datetime,
    days: int,
    confidence: float,
) -> list[GroupSaving]:
    """Per group of `keys` (column names of `calls`, fixed by the caller): the savings of
    the calls of `calls` priced as in `repriced`, over `days` whole days before `end`."""
    sql = TALLY.format(keys=", ".join(keys), calls=calls, repriced=repriced)
    rows = cursor.execute(sql, {"end": naive_utc(end), "days": days}).fetchall()
    sums: dict[tuple[str | None, ...], _Sums] = {}
    daily: dict[tuple[str | None, ...], dict[int, Decimal]] = {}
    width = len(keys)
    for row in rows:
        key, (day, count, unpriced, recorded, what_if) = tuple(row[:width]), row[width:]
        total = sums.setdefault(key, _Sums())
        total.calls += int(count)
        total.unpriced += int(unpriced)
        total.recorded += Decimal(recorded)
        total.what_if += Decimal(what_if)
        daily.setdefault(key, {})[int(day)] = Decimal(recorded) - Decimal(what_if)
    return [
        GroupSaving(
            key=key,
            calls=total.calls,
            unpriced_calls=total.unpriced,
            recorded_usd=total.recorded,
            what_if_usd=total.what_if,
            monthly_recorded_usd=(total.recorded / days * DAYS_PER_MONTH).quantize(MICRO),
            saving=monthly(daily[key], days, confidence),
            by_day=daily[key],
        )
        for key, total in sums.items()
    ]


def combined(groups: Sequence[GroupSaving], days: int, confidence: float) -> Monthly:
    """The monthly saving of several groups together, with its own interval (the days are
    resampled as wholes, so groups that move together widen it)."""
    daily: dict[int, Decimal] = {}
    for group in groups:
        for day, amount in group.by_day.items():
            daily[day] = daily.get(day, Decimal(0)) + amount
    return monthly(daily, days, confidence)
