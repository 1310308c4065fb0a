"""The spend-anomaly detector's state (warehouse/detection/state.py) on a real migrated DuckDB:
scoring an hour from the state gives the figures the window-based columnar scoring gives
(hour after hour, through the one-hour derivation, a rebuild and a re-rolled hour), and a
late span that re-rolls an hour already in the state is reflected through the real jobs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from collector.ingest.normalize import Normalizer
from collector.ingest.traces.decode import PROTOBUF, decode_traces
from sample_data.harness import otlp
from tests.warehouse.detection.test_anomalies import CONFIG, HOURS, START, fill
from warehouse.detection import anomalies
from warehouse.detection import state as spend_state
from warehouse.detection.baseline import Thresholds, score
from warehouse.detection.config import AnomalyConfig
from warehouse.detection.series import hourly_grid
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.spans.insert import insert_spans, last_batch_id
from warehouse.store.database import Database

HOUR = dt.timedelta(hours=1)
SETTINGS = anomalies.settings(CONFIG)


def window_scoring(database: Database, hour: dt.datetime) -> dict[str, pl.DataFrame]:
    """The closed `hour` scored as the detector scored it before it kept state: the series
    of the history window rebuilt from rollup_hourly, the columnar baseline on its tail."""
    cursor = database.cursor()
    end = hour + HOUR
    series = hourly_grid(cursor, end - (SETTINGS.history_hours() + 1) * HOUR, end)
    return {
        grain.name: score(
            series.grid,
            window=grain.window,
            thresholds=SETTINGS.thresholds(grain.name),
            baseline=SETTINGS.baseline,
            tail=1,
        ).join(series.keys.select("series", "key"), on="series")
        for grain in anomalies.GRAINS
    }


def state_scoring(database: Database, hour: dt.datetime) -> tuple[str, dict[str, pl.DataFrame]]:
    cursor = database.cursor()
    done = spend_state.refresh(cursor, hour + HOUR, SETTINGS)
    return done, spend_state.score_hour(cursor, hour, spend_state.spend(cursor, hour), SETTINGS)


def assert_same(state: pl.DataFrame, window: pl.DataFrame) -> None:
    """The same series, and per series the same verdict and figures (up to float rounding
    of sums and means)."""
    columns = ["key", "value", "expected", "score", "age", "cold", "fires"]
    both = state.select(columns).join(
        window.select(columns), on="key", how="full", suffix="_window"
    )
    assert both["key"].null_count() == 0 and both["key_window"].null_count() == 0
    assert (both["fires"] == both["fires_window"]).fill_null(True).all()
    assert both["fires"].null_count() == both["fires_window"].null_count()
    assert (both["cold"] == both["cold_window"]).all()
    assert (both["age"] == both["age_window"]).all()
    for name in ("value", "expected", "score"):
        difference = (both[name] - both[f"{name}_window"]).abs()
        scale = both[f"{name}_window"].abs().clip(lower_bound=1.0)
        assert ((difference / scale).fill_null(0.0) < 1e-9).all(), name
        assert (both[name].is_null() == both[f"{name}_window"].is_null()).all(), name


def test_the_state_scores_every_hour_as_the_window_did(database: Database) -> None:
    spike_at = HOURS - 20

    def spiky(hour: int, model: str) -> tuple[float, float, float]:
        return (6.0 if hour in (spike_at, spike_at + 1) else 1.0), 1.0, 0.5

    fill(database, feature="search", shape=spiky, usd_per_hour=40)
    fill(database, feature="drafts", seed=5, usd_per_hour=8)
    fill(database, feature="sparse", seed=6, every=3, usd_per_hour=30)
    fill(database, feature="newborn", seed=7, first_hour=HOURS - 200, usd_per_hour=15)
    steps = []
    fired = 0
    for at in range(HOURS - 30, HOURS):
        hour = START + at * HOUR
        if at == HOURS - 10:
            # A re-rolled hour (what a late span does): more spend in an hour already derived.
            cursor = database.cursor()
            cursor.execute(
                "UPDATE rollup_hourly SET cost_usd = cost_usd * 4 "
                "WHERE hour = $hour AND feature = 'drafts'",
                {"hour": hour - 2 * HOUR},
            )
            cursor.execute(
                "INSERT INTO rollup_hour_versions VALUES ($hour, 99)", {"hour": hour - 2 * HOUR}
            )
        done, state = state_scoring(database, hour)
        window = window_scoring(database, hour)
        steps.append(done)
        for grain, rows in state.items():
            assert_same(rows, window[grain])
            fired += rows["fires"].is_not_null().sum()
    # The first call rebuilt the state, the next derived one hour each, the re-rolled hour
    # was derived again with the hours after it.
    assert steps[0] == "rebuilt"
    assert steps[1:20] == ["derived 1"] * 19
    assert steps[20] == "derived 3"
    assert fired > 0  # the spikes and the re-rolled hour fire, the same in both


def test_a_rebuild_follows_a_change_of_thresholds(database: Database) -> None:
    fill(database, hours=24 * 10)
    cursor = database.cursor()
    current = START + 24 * 10 * HOUR
    assert spend_state.refresh(cursor, current, SETTINGS) == "rebuilt"
    assert spend_state.refresh(cursor, current, SETTINGS) == "current"
    other = anomalies.settings(AnomalyConfig(hour=Thresholds(offset_usd=1.0)))
    assert spend_state.refresh(cursor, current, other) == "rebuilt"
    # Far ahead: more hours than one-by-one derivation is worth.
    assert spend_state.refresh(cursor, current + 100 * HOUR, other) == "rebuilt"


# The late-span test: spans go through the real ingest path and jobs.
SPAN_HOUR = dt.datetime(2025, 11, 22, 8)  # otlp.BASE_NS is 08:26:40 UTC
NOW = SPAN_HOUR + HOUR + dt.timedelta(minutes=1)


def send(database: Database, first: int, tokens: int, calls: int) -> None:
    spans = [
        otlp.span(
            first + n,
            1,
            start_offset_ms=n,
            attributes=otlp.MODEL_CALL
            | {"gen_ai.usage.input_tokens": tokens, "gen_ai.usage.output_tokens": tokens // 5},
        )
        for n in range(calls)
    ]
    decoded = decode_traces(otlp.request(spans).SerializeToString(), PROTOBUF, Normalizer())
    assert decoded.rejected == 0, decoded.rejection_message
    cursor = database.cursor()
    cursor.begin()
    insert_spans(cursor, decoded.table, last_batch_id(cursor) + 1, NOW)
    cursor.commit()
    for job in JOBS.values():
        if job.name not in ("anomalies", "runaway", "budgets", "incidents"):
            run_job(cursor, job, NOW)


def test_a_late_span_re_rolls_an_hour_the_state_has_and_is_reflected(
    database: Database,
) -> None:
    send(database, 1, 100, 1)  # the hour's first call, rolled up (a full first rebuild)
    # Six weeks of about $2 an hour before it, on the same series.
    cursor = database.cursor()
    cursor.execute(
        """
        INSERT INTO rollup_hourly
        SELECT $hour - to_hours(h), NULL, 'openai', 'gpt-4o', NULL, NULL, NULL, 100, 0, 0,
               500000, 50000, 0, 0, 0,
               (2 + 0.2 * sin(h / 3.8) + 0.1 * ((hash(h) % 100) / 100))::DECIMAL(38, 24),
               NULL, 0, $hour - to_hours(h), $hour - to_hours(h)
        FROM range(1, 6 * 168) r(h)
        """,
        {"hour": SPAN_HOUR},
    )
    before = {s.series: s for s in anomalies.detect(cursor, NOW, CONFIG)}
    assert "spend:hour:total" not in before  # the hour so far: one small call
    (state_before,) = cursor.execute(
        "SELECT count(*) FROM spend_state_hours WHERE hour = $hour", {"hour": SPAN_HOUR}
    ).fetchone() or (0,)
    assert state_before == 1  # derived
    send(database, 100, 2_000_000, 4)  # late spans of that hour: ~$36 more
    after = {s.series: s for s in anomalies.detect(cursor, NOW, CONFIG)}
    signal = after.get("spend:hour:total")
    assert signal is not None and signal.window_start == SPAN_HOUR
    assert signal.actual_usd > Decimal(30)
    (actual,) = cursor.execute(
        "SELECT s.actual FROM spend_state s JOIN spend_state_series k USING (series) "
        "WHERE k.key = 'total' AND s.hour = $hour",
        {"hour": SPAN_HOUR},
    ).fetchone() or (None,)
    assert actual == pytest.approx(float(signal.actual_usd), rel=1e-6)
