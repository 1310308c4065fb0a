"""The spend-anomaly detector on generated series with known injected incidents, through a
real migrated DuckDB: spikes fire with the right cause, tiny series and ordinary noise stay
quiet, a level shift becomes the new normal, cold and sparse series are handled, and the
live (tail) scoring equals the full causal scoring."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
from collections.abc import Callable

import polars as pl
import pytest

from warehouse.detection import anomalies
from warehouse.detection import explain as spend_explain
from warehouse.detection.baseline import DAY, HOUR, score
from warehouse.detection.config import AnomalyConfig, ConfigError, anomaly_config
from warehouse.detection.series import hourly_grid, series_filter, window_spend
from warehouse.detection.signals import last_signal_id
from warehouse.store.database import Database
from warehouse.store.schema import rollup_hourly

START = dt.datetime(2026, 9, 7)  # a Monday
WEEKS = 6
HOURS = WEEKS * 168
CONFIG = AnomalyConfig()
# (hour index, model) -> multiplier of calls, of tokens per call, cache-hit rate
Shape = Callable[[int, str], tuple[float, float, float]]


def usual(hour: int, model: str) -> tuple[float, float, float]:
    return 1.0, 1.0, 0.5


def fill(
    database: Database,
    *,
    feature: str = "search",
    usd_per_hour: float = 20.0,
    hours: int = HOURS,
    first_hour: int = 0,
    shape: Shape = usual,
    seed: int = 3,
    every: int = 1,
) -> None:
    """rollup_hourly rows of one feature on two models: a daily profile, a weekend dip,
    Poisson-like noise; gpt-4o takes 70 % of the calls. Input tokens cost 2.5 / 1M, cache
    reads 0.25 / 1M, output 10 / 1M (gpt-4o; a tenth for the mini)."""
    rng = random.Random(seed)
    rows = []
    for h in range(first_hour, hours, every):
        hour = START + dt.timedelta(hours=h)
        day, hod = divmod(h, 24)
        profile = (0.5 + 0.5 * math.sin(math.pi * (hod - 6) / 12)) * (
            0.5 if day % 7 >= 5 else 1
        ) + 0.2
        for model, share, price in (("gpt-4o", 0.7, 1.0), ("gpt-4o-mini", 0.3, 0.1)):
            more_calls, more_tokens, hit_rate = shape(h, model)
            per_call = 0.01 * price  # USD, at the usual tokens and hit rate
            calls = max(0, round(usd_per_hour * share * profile / per_call * more_calls
                                 * rng.lognormvariate(0, 0.08)))  # fmt: skip
            if not calls:
                continue
            tokens_in = int(2000 * more_tokens) * calls
            tokens_out = int(500 * more_tokens) * calls
            cached = int(tokens_in * hit_rate)
            cost = price * ((tokens_in - cached) * 2.5e-6 + cached * 0.25e-6 + tokens_out * 10e-6)
            savings = price * cached * 2.25e-6
            rows.append(
                (hour, feature, "openai", model, "acme", "prod", None, calls, 0, 0, tokens_in,
                 tokens_out, cached, 0, 0, round(cost, 9), None, round(savings, 9), hour,
                 hour)
            )  # fmt: skip
    cursor = database.cursor()
    names = [c.name for c in rollup_hourly.columns]
    frame = pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
    cursor.register("generated", frame.to_arrow())
    cursor.execute("INSERT INTO rollup_hourly SELECT * FROM generated")
    cursor.unregister("generated")


def detect_at(database: Database, hour: int, minute: int = 1) -> dict[str, anomalies.Signal]:
    now = START + dt.timedelta(hours=hour, minutes=minute)
    return {s.series: s for s in anomalies.detect(database.cursor(), now, CONFIG)}


SPIKE_HOUR = HOURS - 30  # a Saturday afternoon of the last week


def test_a_quiet_history_fires_nothing(database: Database) -> None:
    fill(database)
    for hour in range(HOURS - 72, HOURS, 7):
        assert detect_at(database, hour) == {}


def test_a_spike_of_more_calls_fires_within_the_hour_and_says_so(database: Database) -> None:
    def spike(hour: int, model: str) -> tuple[float, float, float]:
        return (5.0 if hour == SPIKE_HOUR else 1.0), 1.0, 0.5

    fill(database, shape=spike)
    # 40 minutes into the spike hour: the hour under way, projected, already fires.
    early = detect_at(database, SPIKE_HOUR, minute=40)
    assert "spend:hour:feature=search" in early
    assert early["spend:hour:feature=search"].details["projected_from_share"] == 0.667
    signals = detect_at(database, SPIKE_HOUR + 1)
    expected_series = {
        "spend:hour:total", "spend:hour:feature=search", "spend:hour:tenant=acme",
        "spend:hour:model=openai/gpt-4o", "spend:hour:model=openai/gpt-4o-mini",
        "spend:hour:feature=search|model=openai/gpt-4o",
        "spend:hour:feature=search|model=openai/gpt-4o-mini",
    }  # fmt: skip
    assert expected_series <= set(signals)
    signal = signals["spend:hour:feature=search"]
    assert signal.kind == "spend_anomaly" and signal.direction == "up"
    assert signal.window_start == START + dt.timedelta(hours=SPIKE_HOUR)
    assert signal.window_end == signal.window_start + dt.timedelta(hours=1)
    assert signal.tenant_id is None
    assert signals["spend:hour:tenant=acme"].tenant_id == "acme"
    assert 4 < float(signal.actual_usd / signal.expected_usd) < 6.5
    assert float(signal.impact_usd) == pytest.approx(
        float(signal.actual_usd - signal.expected_usd) * CONFIG.impact_hours, rel=0.01
    )
    explanation = signal.details["explanation"]
    assert explanation["main_cause"] == "calls"
    assert explanation["shares"]["calls"] > 0.9
    assert sum(explanation["parts_usd"].values()) == pytest.approx(
        explanation["excess_usd"], abs=1e-5
    )
    assert "mostly more calls" in signal.title
    # Recorded by the job: one signal per firing series per run, not more.
    cursor = database.cursor()
    now = START + dt.timedelta(hours=SPIKE_HOUR + 1, minutes=1)
    recorded = anomalies.record_signals(cursor, anomalies.detect(cursor, now, CONFIG))
    assert recorded == len(signals) == last_signal_id(cursor)


def test_an_explanation_that_fails_leaves_every_alert_standing(
    database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A fault injected into the explanation (ZeroDivisionError was once real, at a usual
    # spend of 0): each series still fires, says why it has no explanation, and logs it.
    def spike(hour: int, model: str) -> tuple[float, float, float]:
        return (5.0 if hour == SPIKE_HOUR else 1.0), 1.0, 0.5

    def broken(*args: object) -> dict[str, object]:
        raise ZeroDivisionError("float division by zero")

    fill(database, shape=spike)
    monkeypatch.setattr(spend_explain, "decompose", broken)
    signals = detect_at(database, SPIKE_HOUR + 1)
    signal = signals["spend:hour:feature=search"]
    assert "explanation" not in signal.details
    assert signal.details["explanation_error"] == "ZeroDivisionError: float division by zero"
    assert "mostly" not in signal.title
    assert "could not explain the anomaly of spend:hour:feature=search" in caplog.text


def test_many_series_firing_at_once_explain_the_largest_impacts_only(
    database: Database,
) -> None:
    def spike(hour: int, model: str) -> tuple[float, float, float]:
        return (5.0 if hour == SPIKE_HOUR else 1.0), 1.0, 0.5

    fill(database, shape=spike)
    fill(database, feature="drafts", usd_per_hour=40.0, shape=spike, seed=4)
    now = START + dt.timedelta(hours=SPIKE_HOUR + 1, minutes=1)
    config = dataclasses.replace(CONFIG, explain_limit=3)
    signals = anomalies.detect(database.cursor(), now, config)
    explained = [s for s in signals if "explanation" in s.details]
    skipped = [s for s in signals if "explanation_skipped" in s.details]
    assert len(explained) == 3 and len(skipped) == len(signals) - 3 > 0
    assert min(s.impact_usd for s in explained) >= max(s.impact_usd for s in skipped)
    assert f"{len(signals)} series fired in this run" in skipped[0].details["explanation_skipped"]
    assert "mostly" not in skipped[0].title


def test_the_spend_of_many_windows_equals_each_series_sum(database: Database) -> None:
    fill(database)
    fill(database, feature="drafts", usd_per_hour=40.0, seed=4)
    cursor = database.cursor()
    end = START + dt.timedelta(hours=HOURS - 5)
    windows = [
        ({}, end - dt.timedelta(hours=24), end),
        ({"feature": "drafts"}, end - dt.timedelta(hours=1), end),
        ({"model": "openai/gpt-4o-mini"}, end - dt.timedelta(hours=3), end),
        ({"feature": "search", "model": "openai/gpt-4o"}, end - dt.timedelta(hours=1), end),
        ({"tenant": "acme"}, end - dt.timedelta(hours=2), end),
        ({"tenant": "nobody"}, end - dt.timedelta(hours=2), end),
    ]
    expected = []
    for dimensions, start, stop in windows:
        condition, params = series_filter(dimensions)
        row = cursor.execute(
            f"SELECT coalesce(sum(cost_usd), 0) FROM rollup_hourly "
            f"WHERE hour >= $start AND hour < $end AND {condition}",
            params | {"start": start, "end": stop},
        ).fetchone()
        assert row is not None
        expected.append(row[0])
    assert window_spend(cursor, windows) == expected
    assert expected[-1] == 0 and all(spent > 0 for spent in expected[:-1])


@pytest.mark.parametrize(
    ("cause", "shape"),
    [
        ("tokens_per_call", lambda h, m: (1.0, 4.0 if h == SPIKE_HOUR else 1.0, 0.5)),
        ("cache", lambda h, m: (1.0, 1.0, 0.0 if h >= SPIKE_HOUR else 0.95)),
        # The same calls, moved from the mini to the full model.
        (
            "model_mix",
            lambda h, m: ((3.0 if m == "gpt-4o" else 0.05) if h == SPIKE_HOUR else 1.0, 1.0, 0.5),
        ),
    ],
)
def test_the_explanation_names_the_cause(database: Database, cause: str, shape: Shape) -> None:
    fill(database, shape=shape, usd_per_hour=60)
    signal = detect_at(database, SPIKE_HOUR + 1).get("spend:hour:feature=search")
    assert signal is not None
    assert signal.details["explanation"]["main_cause"] == cause, signal.details["explanation"]


def test_tiny_series_stay_quiet(database: Database) -> None:
    def spike(hour: int, model: str) -> tuple[float, float, float]:
        return (8.0 if hour == SPIKE_HOUR else 1.0), 1.0, 0.5

    fill(database, usd_per_hour=0.3, shape=spike)  # $2.4 extra: under min_excess_usd
    assert detect_at(database, SPIKE_HOUR + 1) == {}


def test_a_level_shift_fires_then_becomes_the_new_normal(database: Database) -> None:
    shift = HOURS - 5 * 24

    def doubled(hour: int, model: str) -> tuple[float, float, float]:
        return (2.5 if hour >= shift else 1.0), 1.0, 0.5

    fill(database, shape=doubled)
    watched = {"spend:day:feature=search", "spend:hour:feature=search"}
    firing = [
        hour for hour in range(shift, HOURS, 3) if watched & set(detect_at(database, hour + 1))
    ]
    assert firing and firing[0] == shift  # caught in its first hour
    assert max(firing) - shift < 72  # and quiet again long before the week is out


def test_a_new_feature_learns_first_then_is_watched_without_seasonality(
    database: Database,
) -> None:
    fill(database, feature="search")
    born = HOURS - 60
    fill(database, feature="drafts", first_hour=born, seed=5)
    # Younger than min_history_hours: learning, never fires.
    signals = detect_at(database, born + 10)
    assert not any("drafts" in key for key in signals)

    def spike(hour: int, model: str) -> tuple[float, float, float]:
        return (10.0 if hour == HOURS - 5 else 1.0), 1.0, 0.5

    database.cursor().execute("DELETE FROM rollup_hourly WHERE feature = 'drafts'")
    fill(database, feature="drafts", first_hour=born, seed=5, shape=spike)
    signal = detect_at(database, HOURS - 4).get("spend:hour:feature=drafts")
    assert signal is not None and signal.details["cold_start"] is True


def test_sparse_series_only_alert_per_day(database: Database) -> None:
    # Spend in one hour out of three: the hourly series is sparse.
    def spike(hour: int, model: str) -> tuple[float, float, float]:
        return (6.0 if hour >= SPIKE_HOUR - 24 else 1.0), 1.0, 0.5

    fill(database, every=3, shape=spike, usd_per_hour=30)
    signals = detect_at(database, SPIKE_HOUR + 1)
    assert "spend:day:feature=search" in signals
    assert not any(key.startswith("spend:hour:feature=search") for key in signals)


def test_the_live_tail_equals_the_full_causal_scoring(database: Database) -> None:
    fill(database, seed=9)
    grid = hourly_grid(database.cursor(), START, START + dt.timedelta(hours=HOURS)).grid
    for window, thresholds in ((1, HOUR), (24, DAY)):
        full = (
            score(grid, window=window, thresholds=thresholds)
            .group_by("series", maintain_order=True)
            .tail(2)
        )
        tail = score(grid, window=window, thresholds=thresholds, tail=2)
        assert tail["expected"].to_list() == full["expected"].to_list()
        assert (tail["score"] - full["score"]).abs().max() < 1e-9  # type: ignore[operator]


def test_the_grid_is_rectangular_with_nulls_before_a_series_starts(database: Database) -> None:
    fill(database, hours=48)
    fill(database, feature="late", first_hour=40, hours=48)
    series = hourly_grid(database.cursor(), START, START + dt.timedelta(hours=48))
    assert series.grid.height == series.keys.height * 48
    late = series.keys.filter(pl.col("key") == "feature=late")["series"][0]
    actual = series.grid.filter(pl.col("series") == late)["actual"]
    assert actual[:40].null_count() == 40 and actual[40:].null_count() == 0


def test_decompose_adds_up_and_handles_new_models() -> None:
    reference = {"a": {"calls": 10, "input": 1000, "output": 100, "cache_read": 0,
                       "cost": 1.0, "savings": 0.0}}  # fmt: skip
    actual = {
        "a": {"calls": 10, "input": 1000, "output": 100, "cache_read": 0, "cost": 1.0,
              "savings": 0.0},
        "b": {"calls": 10, "input": 1000, "output": 100, "cache_read": 0, "cost": 3.0,
              "savings": 0.0},
    }  # fmt: skip
    result = spend_explain.decompose(actual, reference, expected=1.0)
    assert result["excess_usd"] == pytest.approx(3.0)
    assert sum(result["parts_usd"].values()) == pytest.approx(3.0)
    assert result["parts_usd"]["calls"] == pytest.approx(1.0)  # twice the calls
    assert result["parts_usd"]["model_mix"] == pytest.approx(2.0)  # b costs 3x per call
    assert spend_explain.decompose(actual, {}, expected=0.5)["parts_usd"]["calls"] == 3.5


def test_decompose_explains_spend_where_the_usual_is_nothing() -> None:
    # A series whose baseline is 0 at this hour (the median of its past weeks), though
    # some past week had calls: every call is more than usual, none divides by zero.
    reference = {"a": {"calls": 2, "input": 200, "output": 20, "cache_read": 0,
                       "cost": 0.2, "savings": 0.0}}  # fmt: skip
    actual = {"a": {"calls": 10, "input": 1000, "output": 100, "cache_read": 0,
                    "cost": 1.0, "savings": 0.0}}  # fmt: skip
    result = spend_explain.decompose(actual, reference, expected=0.0)
    assert result["excess_usd"] == pytest.approx(1.0)
    assert result["parts_usd"]["calls"] == pytest.approx(1.0)
    assert result["main_cause"] == "calls"


def test_thresholds_come_from_the_config_with_clear_errors() -> None:
    config = anomaly_config({"day": {"min_excess_usd": 40}, "baseline": {"weeks": 3}})
    assert config.day.min_excess_usd == 40 and config.day.min_ratio == DAY.min_ratio
    assert config.baseline.weeks == 3
    with pytest.raises(ConfigError, match=r"anomalies.hour.min_score: must be a number"):
        anomaly_config({"hour": {"min_score": "high"}})
    with pytest.raises(ConfigError, match="unknown setting"):
        anomaly_config({"hourly": {}})
    with pytest.raises(ConfigError, match="weeks: must be 1 to 4"):
        anomaly_config({"baseline": {"weeks": 6}})
    with pytest.raises(ConfigError, match="per_call: 0 <= scale_low < scale_high < 1"):
        anomaly_config({"per_call": {"scale_low": 0.8}})
    assert anomaly_config({"baseline": {"scale_low": 0.25}}).baseline.scale_low == 0.25


@pytest.mark.parametrize(
    ("expected", "ratio", "text"),
    [
        (12.4, 3.2, "3.2x the usual $12.40"),
        (0.0, None, "where nothing is usually spent"),
        (0.001, 40.0, "against a usual of under $0.01"),
    ],
)
def test_a_title_says_what_the_usual_spend_is_even_when_it_is_nothing(
    expected: float, ratio: float | None, text: str
) -> None:
    assert anomalies.against_usual(expected, ratio) == text
