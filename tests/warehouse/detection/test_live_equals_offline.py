"""The live detector (`anomalies.detect`, scoring from its state hour after hour) fires
exactly the series the offline causal scoring of the whole history fires, on every hour of
two weeks: spikes, a level shift, a cost-per-call rise, a new feature, a sparse one, a
late re-rolled hour; the state rebuilt in chunks of a few series."""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
import pytest

from tests.warehouse.detection.test_anomalies import HOURS, START, fill
from warehouse.detection import anomalies
from warehouse.detection import state as spend_state
from warehouse.detection.baseline import score
from warehouse.detection.config import AnomalyConfig
from warehouse.detection.per_call import score_per_call
from warehouse.detection.series import hourly_grid
from warehouse.store.database import Database

HOUR = dt.timedelta(hours=1)
CONFIG = dataclasses.replace(AnomalyConfig(), explain=False)
FROM = HOURS - 2 * 168  # the two weeks checked


def offline(database: Database) -> dict[int, set[str]]:
    """Per hour index, the series the full causal scoring fires."""
    cursor = database.cursor()
    series = hourly_grid(cursor, START, START + HOURS * HOUR)
    parts = []
    for grain in anomalies.GRAINS:
        thresholds = CONFIG.hour if grain.window == 1 else CONFIG.day
        rows = score(series.grid, window=grain.window, thresholds=thresholds)
        parts.append(rows.select("series", "hour", "fires", grain=pl.lit(grain.name)))
    calls = score_per_call(series.grid, CONFIG.per_call)
    parts.append(calls.select("series", "hour", "fires", grain=pl.lit("call")))
    fired = (
        pl.concat(parts)
        .filter(pl.col("fires").is_not_null())
        .join(series.keys.select("series", "key"), on="series")
        .select(
            at=(pl.col("hour") - pl.lit(START)).dt.total_hours(),
            name=pl.lit("spend:") + pl.col("grain") + pl.lit(":") + pl.col("key"),
        )
    )
    out: dict[int, set[str]] = {}
    for at, name in fired.iter_rows():
        out.setdefault(int(at), set()).add(name)
    return out


def test_the_live_detector_equals_the_offline_scoring_on_every_hour_of_two_weeks(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spend_state, "REBUILD_SERIES", 2)  # several chunks

    def spiky(hour: int, model: str) -> tuple[float, float, float]:
        more = 6.0 if hour % 97 == 0 and hour > FROM else 1.0
        cache = 0.0 if FROM + 100 <= hour < FROM + 130 else 0.6  # a cache collapse
        return more, 1.0, cache

    def shifted(hour: int, model: str) -> tuple[float, float, float]:
        return (2.5 if hour >= FROM + 200 else 1.0), 1.0, 0.5

    fill(database, feature="search", shape=spiky, usd_per_hour=40)
    fill(database, feature="drafts", seed=5, shape=shifted, usd_per_hour=12)
    fill(database, feature="sparse", seed=6, every=3, usd_per_hour=30)
    fill(database, feature="newborn", seed=7, first_hour=FROM + 30, usd_per_hour=15)
    expected = offline(database)
    cursor = database.cursor()
    checked = 0
    for at in range(FROM, HOURS):
        if at == FROM + 150:
            # A late span re-rolls an hour already derived: the state derives it again.
            hour = START + (at - 3) * HOUR
            cursor.execute(
                "UPDATE rollup_hourly SET cost_usd = cost_usd * 1.0000001 "
                "WHERE hour = $hour AND feature = 'drafts'",
                {"hour": hour},
            )
            cursor.execute("INSERT INTO rollup_hour_versions VALUES ($hour, 99)", {"hour": hour})
        now = START + (at + 1) * HOUR + dt.timedelta(minutes=1)  # hour `at` just closed
        live = {s.series for s in anomalies.detect(cursor, now, CONFIG)}
        assert live == expected.get(at, set()), (at, live ^ expected.get(at, set()))
        checked += 1
    assert checked == 336
    assert sum(len(v) for k, v in expected.items() if k >= FROM) > 20  # it did fire
