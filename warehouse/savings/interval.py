"""A monthly figure from daily amounts, with a bootstrap interval over days.

The history is cut into whole days counted back from the window's end (the most recent day
is the 24 hours before it), from the first recorded call of the scope on; a day with no
call counts as zero. The monthly figure is the mean day times the days of an average month
(365.2425 / 12); its interval is the percentile bootstrap of that mean: the days resampled
with replacement `RESAMPLES` times (a fixed seed, so an answer is reproducible), the
(1 - confidence) / 2 and (1 + confidence) / 2 quantiles of the resampled means. It says how
much the figure depends on which days were recorded; it does not foresee growth or a
change of traffic.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

DAY = dt.timedelta(days=1)
DAYS_PER_MONTH = Decimal("30.436875")  # 365.2425 / 12
RESAMPLES = 2000
CHUNK_NUMBERS = 2_000_000  # resampled days held at once (16 MB)
SEED = 19
CENTS = Decimal("0.01")
MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class Monthly:
    """Dollars per month: the estimate and its interval at `confidence`, over `days` days."""

    usd: Decimal
    low_usd: Decimal
    high_usd: Decimal
    confidence: float
    days: int


def history_days(first: dt.datetime | None, end: dt.datetime) -> int:
    """Whole days from the first call to the end (at least one)."""
    if first is None or first >= end:
        return 1
    return max(1, math.ceil((end - first) / DAY))


def day_index(end: dt.datetime, at: dt.datetime) -> int:
    """Which day back from `end` an instant falls in (0: the last 24 hours)."""
    return int((end - at) // DAY)


def monthly(by_day: Mapping[int, Decimal], days: int, confidence: float) -> Monthly:
    """The monthly figure of daily amounts (`by_day`: day index -> amount; indices at or
    beyond `days` are left out) and its bootstrap interval."""
    amounts = [by_day.get(index, Decimal(0)) for index in range(days)]
    mean = sum(amounts, Decimal(0)) / days
    sample = np.array([float(amount) for amount in amounts])
    rng = np.random.default_rng(SEED)
    # In chunks: a history of years must not hold RESAMPLES x days numbers at once.
    chunk = max(1, min(RESAMPLES, CHUNK_NUMBERS // days))
    means = np.concatenate(
        [
            rng.choice(sample, size=(min(chunk, RESAMPLES - done), days)).mean(axis=1)
            for done in range(0, RESAMPLES, chunk)
        ]
    )
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    factor = float(DAYS_PER_MONTH)
    return Monthly(
        usd=(mean * DAYS_PER_MONTH).quantize(MICRO),
        low_usd=Decimal(repr(float(low) * factor)).quantize(MICRO),
        high_usd=Decimal(repr(float(high) * factor)).quantize(MICRO),
        confidence=confidence,
        days=days,
    )
