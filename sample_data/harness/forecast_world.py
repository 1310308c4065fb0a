"""Daily spend histories to backtest the month-end forecast on, and the backtest itself.

`demo_like` is the demo's shape (`sample_data.schedule`: its weekday factors, 8 % growth a
week) with day-to-day noise and the odd incident day; `quirky` adds the world's quirks the
anomaly benchmark uses (`bench.anomaly_world`): holidays, an outage, organic growth up to 3x,
a price cut that halves part of the spend, a feature launched mid-way. `backtest` forecasts
each month from every day of it (at noon, from the 14 days before) and scores the 80 %
interval: how often it holds the month's actual total (coverage) and its mean width.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from sample_data.schedule import WEEKDAY_FACTOR, Shape

Days = dict[dt.date, Decimal]
# (month so far, the complete days before, now) -> (total, low, high) or None
Forecaster = Callable[[Decimal, Mapping[dt.date, Decimal], dt.datetime], tuple[Decimal, ...] | None]
START = dt.date(2026, 6, 1)
HISTORY = 14  # complete days given to each forecast
MICRO = Decimal("0.000001")


def _money(value: float) -> Decimal:
    return Decimal(value).quantize(MICRO)


def demo_like(seed: int, days: int = 150, start: dt.date = START) -> Days:
    """The demo's daily spend: weekday factors, weekly growth, lognormal noise (12 %), one
    day in 30 with an incident (+20-80 %)."""
    rng = random.Random(f"demo-like-{seed}")
    growth = 1 + Shape().weekly_growth
    base = rng.uniform(20, 200)
    result = {}
    for n in range(days):
        day = start + dt.timedelta(days=n)
        cost = base * WEEKDAY_FACTOR[day.weekday()] * growth ** (n / 7)
        cost *= math.exp(rng.gauss(0, 0.12))
        if rng.random() < 1 / 30:
            cost *= 1 + rng.uniform(0.2, 0.8)
        result[day] = _money(cost)
    return result


@dataclass(frozen=True)
class Quirks:
    holidays: tuple[int, ...]  # day numbers at a fifth of their spend
    outage: int  # a day at 60 %
    price_cut: int  # from this day, part of the spend costs half
    cut_share: float
    launch: int  # from this day a new feature adds to the spend, over 3 days
    launch_share: float
    growth: float  # over the whole history


def quirky(seed: int, days: int = 150, start: dt.date = START) -> tuple[Days, Quirks]:
    """Daily spend with the world's quirks (module docstring); returns the quirks too."""
    rng = random.Random(f"quirky-{seed}")
    weekdays = [n for n in range(days) if (start + dt.timedelta(days=n)).weekday() < 5]
    quirks = Quirks(
        holidays=tuple(sorted(rng.sample(weekdays, max(1, days // 35)))),
        outage=rng.randrange(days),
        price_cut=rng.randrange(days // 4, days),
        cut_share=rng.uniform(0.3, 0.7),
        launch=rng.randrange(days // 4, days),
        launch_share=rng.uniform(0.2, 0.6),
        growth=rng.choice((1.0, 1.3, 1.8, 3.0)),
    )
    weekend = rng.uniform(0.3, 0.9)
    noise = rng.uniform(0.08, 0.25)
    base = rng.uniform(5, 500)
    result = {}
    for n in range(days):
        day = start + dt.timedelta(days=n)
        cost = base * quirks.growth ** (n / days) * (weekend if day.weekday() >= 5 else 1.0)
        if n >= quirks.price_cut:
            cost *= 1 - quirks.cut_share / 2
        if n >= quirks.launch:
            cost *= 1 + quirks.launch_share * min(1.0, (n - quirks.launch + 1) / 3)
        if n in quirks.holidays:
            cost *= 0.2
        if n == quirks.outage:
            cost *= 0.6
        result[day] = _money(cost * math.exp(rng.gauss(0, noise)))
    return result, quirks


@dataclass(frozen=True)
class Score:
    forecasts: int
    coverage: float  # the share of forecasts whose interval held the month's total
    mean_width: float  # (high - low) / actual, averaged
    mean_abs_error: float  # |total - actual| / actual, averaged


def backtest(days: Mapping[dt.date, Decimal], forecaster: Forecaster) -> Score:
    """Forecast every complete month of `days` from each of its days at noon (the month so
    far: its days before, and half of that day), with the HISTORY days before as history."""
    first, last = min(days), max(days)
    held = widths = errors = 0.0
    count = 0
    for day in sorted(days):
        if day - dt.timedelta(days=HISTORY) < first:
            continue
        end = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        if end > last or day.replace(day=1) < first:
            continue
        month = [days[day.replace(day=n)] for n in range(1, end.day + 1)]
        actual = sum(month, Decimal(0))
        so_far = sum(month[: day.day - 1], Decimal(0)) + days[day] / 2
        before = [day - dt.timedelta(days=n) for n in range(1, HISTORY + 1)]
        history = {d: days[d] for d in before}
        now = dt.datetime.combine(day, dt.time(12))
        found = forecaster(so_far, history, now)
        if found is None or not actual:
            continue
        total, low, high = found
        count += 1
        held += low <= actual <= high
        widths += float((high - low) / actual)
        errors += float(abs(total - actual) / actual)
    return (
        Score(count, held / count, widths / count, errors / count)
        if count
        else Score(0, math.nan, math.nan, math.nan)
    )


def flat_run_rate(
    so_far: Decimal, recent: Mapping[dt.date, Decimal], now: dt.datetime
) -> tuple[Decimal, ...] | None:
    """The plain baseline: the last 7 days' mean spend per day for the rest of the month,
    +- 1.2816 x their standard deviation x sqrt(days left) (days taken as independent)."""
    last = sorted(recent)[-7:]
    if not last:
        return None
    values = [recent[d] for d in last]
    mean = sum(values, Decimal(0)) / len(values)
    spread = Decimal(0)
    if len(values) > 1:
        spread = (sum(((v - mean) ** 2 for v in values), Decimal(0)) / (len(values) - 1)).sqrt()
    today = now.date()
    left = Decimal(calendar.monthrange(today.year, today.month)[1] - today.day) + Decimal(
        (86_400 - (now.hour * 3600 + now.minute * 60)) / 86_400
    )
    total = so_far + mean * left
    half = Decimal("1.2816") * spread * left.sqrt()
    return total, max(total - half, so_far), total + half
