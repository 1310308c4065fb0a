"""The spend-anomaly detector on the world's quirks, through a real migrated DuckDB and the
live detector (`anomalies.detect`): a quiet day does not lower the next day's expectation,
a daily pattern an hour later does not page, a new feature (whose first day is partial)
does not page while it grows but a 5x spike on its fourth day does, under the new-series
rule."""

from __future__ import annotations

import math

from tests.warehouse.detection.test_anomalies import HOURS, detect_at, fill
from warehouse.store.database import Database


def _fill_profile(hour: int) -> float:
    """test_anomalies.fill's own daily x weekly profile (to replace it by another)."""
    day, hod = divmod(hour, 24)
    weekend = 0.5 if day % 7 >= 5 else 1.0
    return (0.5 + 0.5 * math.sin(math.pi * (hod - 6) / 12)) * weekend + 0.2


def _business(hour: int) -> float:
    """Office hours 9-18 (a one-hour shoulder either side), a fifth at night."""
    day, hod = divmod(hour, 24)
    level = 1.0 if 9 <= hod < 18 else 0.5 if hod in (8, 18) else 0.2
    return level * (0.3 if day % 7 >= 5 else 1.0)


def signals_over(database: Database, hours: range) -> set[str]:
    """Every series the live detector fires at any of `hours` (each one minute past)."""
    fired: set[str] = set()
    for hour in hours:
        fired |= set(detect_at(database, hour))
    return fired


def test_the_day_after_a_holiday_is_judged_against_the_usual_level(database: Database) -> None:
    holiday = HOURS - 3 * 24 - 24  # a quiet day (a fifth of the spend), then two days
    quiet = range(holiday, holiday + 24)

    def shape(hour: int, model: str) -> tuple[float, float, float]:
        return (0.2 if hour in quiet else 1.0), 1.0, 0.5

    fill(database, shape=shape, usd_per_hour=60)
    assert signals_over(database, range(holiday + 24, holiday + 48, 2)) == set()


def test_a_daily_pattern_an_hour_later_does_not_page(database: Database) -> None:
    shift = HOURS - 4 * 24  # daylight saving ends: from here on the office opens an hour later

    def shape(hour: int, model: str) -> tuple[float, float, float]:
        local = hour - 1 if hour >= shift else hour
        return _business(local) / _fill_profile(hour), 1.0, 0.5

    fill(database, shape=shape, usd_per_hour=80)
    assert signals_over(database, range(shift + 6, shift + 30)) == set()


def test_a_new_feature_does_not_page_while_it_grows(database: Database) -> None:
    born = HOURS - 10 * 24 + 15  # at 15:00: its first day is partial

    def launch(hour: int, model: str) -> tuple[float, float, float]:
        return min(1.0, max(0.1, (hour - born) / 72)), 1.0, 0.5

    fill(database, feature="launch", seed=9, first_hour=born, shape=launch, usd_per_hour=60)
    # The launch is all the total's spend too: every series is new.
    assert signals_over(database, range(born + 24, HOURS, 3)) == set()


def test_a_5x_spike_on_a_new_features_fourth_day_pages_under_the_new_series_rule(
    database: Database,
) -> None:
    born = HOURS - 6 * 24 + 15
    spike = born + 3 * 24 + 20  # its fourth day, 11:00 (a weekday)

    def shape(hour: int, model: str) -> tuple[float, float, float]:
        return (5.0 if hour == spike else 1.0), 1.0, 0.5

    fill(database, feature="launch", seed=9, first_hour=born, shape=shape, usd_per_hour=40)
    signal = detect_at(database, spike + 1).get("spend:hour:feature=launch")
    assert signal is not None
    assert signal.details["cold_start"] is True
