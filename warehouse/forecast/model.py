"""The month-end forecast: the month so far, plus a weekday-aware run rate for the rest,
with an 80 % prediction interval.

Spend has a weekly rhythm (weekends are quiet), so each remaining day is forecast by the
average of the same weekday over the recent complete days (the average of all of them for a
weekday not seen), scaled to the level of the last seven days (spend grows: the last week
says most about now), and the rest of today by the unspent share of today's rate.

The interval comes from how well the weekday rule predicted the history it is built on:
each complete day is predicted from the other days (leave one out) and its relative error
kept; `s`, a day's relative error, is their median absolute value x 1.4826 (a normal's
standard deviation, robust to a holiday or an outage in the history). The remaining days'
errors are taken as partly shared (a level that moves, growth, a price change move every
day at once):

    variance = s^2 x (sum of (w x rate)^2 + SHARED x (sum of w x rate)^2)

over the remaining days (weight w: 1, or today's unspent share), and the interval is the
forecast +- z x sqrt(variance) (z = 1.2816 for 80 %), never below the month so far.
SHARED was chosen on the backtest's tuning seeds (bench/forecast_backtest.py); the coverage
it reaches on held-out seeds is in docs/benchmarks.md. Exact (Decimal) throughout.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

LEVEL = Decimal("0.8")  # the interval's nominal coverage
Z = Decimal("1.2816")  # the standard normal's 90th percentile: a central 80 % interval
SHARED = Decimal(1)  # the share of the days' errors that move together (see above)
UNKNOWN_ERROR = Decimal(1)  # a day's relative error with fewer than two days to measure it
NORMAL_MAD = Decimal("1.4826")  # a normal's standard deviation per median absolute error


@dataclass(frozen=True)
class Forecast:
    """A month's forecast total with its prediction interval, in USD."""

    month_start: dt.date
    month_to_date: Decimal
    total: Decimal
    low: Decimal
    high: Decimal
    history_days: int  # the complete days the rates and the errors come from
    day_error: Decimal  # s: a day's relative error (module docstring)

    @property
    def interval_level(self) -> Decimal:
        return LEVEL


def _mean(values: list[Decimal]) -> Decimal:
    return sum(values, Decimal(0)) / len(values)


def _rates(history: Mapping[dt.date, Decimal]) -> tuple[dict[int, Decimal], Decimal]:
    by_weekday: dict[int, list[Decimal]] = {}
    for day, cost in history.items():
        by_weekday.setdefault(day.weekday(), []).append(cost)
    return {w: _mean(costs) for w, costs in by_weekday.items()}, _mean(list(history.values()))


def day_error(history: Mapping[dt.date, Decimal]) -> Decimal:
    """A day's relative error predicting it from the other days by the weekday rule (the
    median absolute error x NORMAL_MAD); UNKNOWN_ERROR with fewer than two days to measure."""
    errors = []
    for day, cost in history.items():
        others = {d: c for d, c in history.items() if d != day}
        if not others:
            continue
        same = [c for d, c in others.items() if d.weekday() == day.weekday()]
        predicted = _mean(same) if same else _mean(list(others.values()))
        if predicted > 0:
            errors.append((cost - predicted) / predicted)
    if len(errors) < 2:
        return UNKNOWN_ERROR
    ordered = sorted(abs(e) for e in errors)
    return NORMAL_MAD * ordered[len(ordered) // 2]


def _level(history: Mapping[dt.date, Decimal], pattern: Callable[[dt.date], Decimal]) -> Decimal:
    """The last week's spend against what the weekday pattern gives for it: the level the
    rest of the month is forecast at (spend grows, and the last week says most about now)."""
    last = sorted(history)[-7:]
    expected = sum((pattern(day) for day in last), Decimal(0))
    return sum((history[day] for day in last), Decimal(0)) / expected if expected else Decimal(1)


def month_end_forecast(
    month_to_date: Decimal,
    recent_days: Mapping[dt.date, Decimal],
    now: dt.datetime,
) -> Forecast | None:
    """The forecast of the month holding `now` (UTC). `recent_days` is the cost of each
    complete UTC day before today (the last two weeks is plenty; later days are ignored);
    None when there is no history to go by."""
    history = {day: cost for day, cost in recent_days.items() if day < now.date()}
    if not history:
        return None
    by_weekday, overall = _rates(history)

    def pattern(day: dt.date) -> Decimal:
        return by_weekday.get(day.weekday(), overall)

    level = _level(history, pattern)
    today = now.date()
    midnight = dt.datetime.combine(today, dt.time(), now.tzinfo)
    left_today = Decimal(1) - Decimal((now - midnight).total_seconds()) / Decimal(86_400)
    last = calendar.monthrange(today.year, today.month)[1]
    remaining = [(today, max(left_today, Decimal(0)))] + [
        (today.replace(day=number), Decimal(1)) for number in range(today.day + 1, last + 1)
    ]
    parts = [weight * pattern(day) * level for day, weight in remaining]
    rest = sum(parts, Decimal(0))
    error = day_error(history)
    variance = error * error * (sum((p * p for p in parts), Decimal(0)) + SHARED * rest * rest)
    spread = Z * variance.sqrt()
    total = month_to_date + rest
    return Forecast(
        month_start=today.replace(day=1),
        month_to_date=month_to_date,
        total=total,
        low=max(total - spread, month_to_date),
        high=total + spread,
        history_days=len(history),
        day_error=error,
    )
