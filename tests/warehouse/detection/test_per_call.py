"""The cost per call watched as its own signal (warehouse/detection/per_call.py), on a real
migrated DuckDB: a cache collapse at the same call count fires within hours, names the
cache, and the live scoring equals the full causal scoring; ordinary spend and a price cut
stay quiet."""

from __future__ import annotations

import datetime as dt

import polars as pl

from tests.warehouse.detection.test_anomalies import HOURS, SPIKE_HOUR, START, detect_at, fill
from warehouse.detection.per_call import score_live, score_per_call
from warehouse.detection.series import hourly_grid
from warehouse.store.database import Database

HOUR = dt.timedelta(hours=1)


def collapse(hour: int, model: str) -> tuple[float, float, float]:
    """The same calls; from SPIKE_HOUR on the cache hits are gone (0.9 -> 0)."""
    return 1.0, 1.0, 0.0 if hour >= SPIKE_HOUR else 0.9


def test_a_cache_collapse_at_the_same_calls_fires_within_hours_and_names_the_cache(
    database: Database,
) -> None:
    fill(database, shape=collapse, usd_per_hour=20)
    quiet = detect_at(database, SPIKE_HOUR - 1)
    assert not [s for s in quiet if s.startswith("spend:call:")]
    fired = {}
    for hour in range(SPIKE_HOUR + 1, SPIKE_HOUR + 6):
        fired = detect_at(database, hour)
        if "spend:call:feature=search" in fired:
            break
    assert hour - SPIKE_HOUR <= 3, hour
    signal = fired["spend:call:feature=search"]
    assert signal.details["explanation"]["main_cause"] == "cache", signal.details
    assert signal.details["ratio"] > 1.25
    assert "Cost per call up" in signal.title and "fewer cache hits" in signal.title
    # The spend alone (about 1.7x of a small series' noisy hour) did not page at once.
    assert signal.details["calls"] > 0


def test_the_live_per_call_scoring_equals_the_full_scoring(database: Database) -> None:
    fill(database, shape=collapse, usd_per_hour=20)
    fill(database, feature="drafts", seed=5, usd_per_hour=30)
    cursor = database.cursor()
    series = hourly_grid(cursor, START, START + HOURS * HOUR)
    full = score_per_call(series.grid).join(series.keys.select("series", "key"), on="series")
    for at in range(SPIKE_HOUR - 3, SPIKE_HOUR + 6):
        hour = START + at * HOUR
        live = score_live(cursor, [hour]).select("key", "value", "expected", "score", "fires")
        offline = full.filter(pl.col("hour") == hour).select(
            "key", "value", "expected", "score", "fires"
        )
        both = live.join(offline, on="key", suffix="_full")
        assert both.height == offline.height == live.height
        assert (both["fires"].fill_null("") == both["fires_full"].fill_null("")).all()
        for name in ("value", "expected", "score"):
            gap = (both[name] - both[f"{name}_full"]).abs().fill_null(0.0)
            assert (gap < 1e-9 * both[f"{name}_full"].abs().fill_null(1.0).clip(1.0)).all()


def test_ordinary_spend_and_a_price_cut_do_not_fire(database: Database) -> None:
    def cut(hour: int, model: str) -> tuple[float, float, float]:
        # Half the tokens per call from SPIKE_HOUR on: cheaper calls, a legitimate drop.
        return 1.0, 0.5 if hour >= SPIKE_HOUR else 1.0, 0.5

    fill(database, shape=cut, usd_per_hour=40)
    grid = hourly_grid(database.cursor(), START, START + HOURS * HOUR).grid
    assert score_per_call(grid)["fires"].is_not_null().sum() == 0
