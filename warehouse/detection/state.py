"""The spend-anomaly detector's state: per series and closed hour, the spend and the
statistics the baseline of later hours reads, so a run scores the hours it evaluates from
a few stored hours instead of rebuilding 45 days of series from `rollup_hourly`.

Per series (`spend_state_series`: key, dimensions, first hour) and closed hour
(`spend_state`): the spend (`actual`), and per grain (hour, trailing day) the window's
`value`, the row's `residual` and `deviation` (see `warehouse.detection.baseline`), and `next_*`:
the rolling statistics of the hours up to and including this one, which the next hour's
score reads (`recent`: mean of ln(value + offset) over 24 h, `level`: median residual over
`level_hours`, `mad`: the spread of the deviations over `scale_hours` (from their
`scale_low` to their `scale_high` quantile), `active`: share of
hours with spend over `scale_hours`). Scoring an hour reads the row before it, the rows
1-4 weeks before it (the seasonal lags) and the 23 hours before it (the trailing day).

Kept: the last `retained_hours` (673 by default: four weeks and an hour), one row per
series and hour from the series' first spend: 14 doubles, an integer and a timestamp,
124 bytes a row before DuckDB's compression, ~83 KB per series.

Brought up to date at the start of every run (`refresh`):
- each closed hour not derived yet is derived from the hour's rollup rows and the state
  (`derive`: one scan of `scale_hours` of state rows, for the rolling medians);
- an hour the rollups job rebuilt after it was derived (a late span, a re-pricing:
  `rollup_hour_versions`) is derived again, with every hour after it;
- when that is more than `MAX_DERIVED_HOURS` hours, the state is missing the hours the run
  needs, or the thresholds changed, the state is rebuilt (`rebuild`) from `rollup_hourly`
  with the columnar baseline over the whole history window (as long as a run used to take).

The stored statistics are those the columnar `warehouse.detection.baseline.score` computes over the
detector's 45-day window (`tests/warehouse/detection/test_spend_state.py` compares them), up to
float rounding of sums and means, with one difference by design: a series' age counts from its first
spend in the state, not from its first spend in the window, so a series that pauses and
resumes within 45 days is not new again (the window-based scoring forgot spend that had
left the window before the series' first spend in it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass

import duckdb
import polars as pl

from warehouse.detection.baseline import (
    HOURS_PER_WEEK,
    Baseline,
    Thresholds,
    phase_hours,
    score_from_state,
    statistics,
    window_values,
)
from warehouse.detection.series import grids, hourly_grid
from warehouse.store.staging import registered

HOUR = dt.timedelta(hours=1)
GRAINS = (("hour", 1), ("day", 24))
# Beyond this many hours to derive one by one, the columnar rebuild is cheaper.
MAX_DERIVED_HOURS = 24
# A rebuild computes the columnar statistics of this many series at a time.
REBUILD_SERIES = 1000
NEXT = ("recent", "level", "mad")


@dataclass(frozen=True)
class Settings:
    """What the state depends on: the baseline and the thresholds' log offsets."""

    baseline: Baseline
    hour: Thresholds
    day: Thresholds

    def thresholds(self, grain: str) -> Thresholds:
        return self.hour if grain == "hour" else self.day

    def fingerprint(self) -> str:
        return json.dumps(
            {
                "baseline": dataclasses.asdict(self.baseline),
                "offsets": [self.hour.offset_usd, self.day.offset_usd],
                "min_scale": [self.hour.min_scale, self.day.min_scale],
            },
            sort_keys=True,
        )

    def history_hours(self) -> int:
        """The hours before an evaluated one the columnar baseline reads."""
        b = self.baseline
        return (
            HOURS_PER_WEEK * b.weeks + b.scale_hours + max(b.level_hours, b.level_floor_hours) + 24
        )

    def reach(self) -> int:
        """How many hours before an hour its rolling statistics read."""
        b = self.baseline
        return max(b.scale_hours, b.level_hours, b.level_floor_hours, 24)

    def retained_hours(self) -> int:
        """The hours kept: the oldest one a score reads (the last seasonal lag of the hour
        under way, or the rolling statistics' reach)."""
        b = self.baseline
        return max(HOURS_PER_WEEK * b.weeks + b.phase_hours, self.reach()) + 1


def refresh(cursor: duckdb.DuckDBPyConnection, current: dt.datetime, settings: Settings) -> str:
    """Bring the state up to the hour before `current` (naive UTC, whole hour); returns
    what it did: 'current', 'derived <n>' or 'rebuilt'."""
    last = current - HOUR
    fingerprint = settings.fingerprint()
    low, high, values_from, configs = cursor.execute(
        "SELECT min(hour) FILTER (WHERE stats), max(hour), min(hour), "
        "count(*) FILTER (WHERE config <> $config) FROM spend_state_hours",
        {"config": fingerprint},
    ).fetchone() or (None, None, None, 0)
    if low is None or high is None or values_from is None or configs:
        rebuild(cursor, current, settings)
        return "rebuilt"
    (changed,) = cursor.execute(
        "SELECT min(v.hour) FROM rollup_hour_versions v JOIN spend_state_hours s USING (hour) "
        "WHERE v.version > s.version AND v.hour <= $last",
        {"last": last},
    ).fetchone() or (None,)
    start = min(changed, high + HOUR) if changed is not None else high + HOUR
    usable = (
        values_from <= current - settings.retained_hours() * HOUR
        and low <= min(start, last) - HOUR  # the statistics the first hour scored reads
        and start - HOUR <= high
        and (last - start) // HOUR < MAX_DERIVED_HOURS
    )
    if not usable:
        rebuild(cursor, current, settings)
        return "rebuilt"
    if start > last:
        return "current"
    _forget_from(cursor, start)
    hour = start
    while hour <= last:
        derive(cursor, hour, settings)
        hour += HOUR
    return f"derived {(last - start) // HOUR + 1}"


def _forget_from(cursor: duckdb.DuckDBPyConnection, start: dt.datetime) -> None:
    """Drop the hours from `start` on (they are derived again)."""
    params = {"start": start}
    cursor.execute("DELETE FROM spend_state WHERE hour >= $start", params)
    cursor.execute("DELETE FROM spend_state_hours WHERE hour >= $start", params)
    cursor.execute("DELETE FROM spend_state_series WHERE first_hour >= $start", params)
    cursor.execute(
        "UPDATE spend_state_series SET last_hour = $start - INTERVAL 1 HOUR "
        "WHERE last_hour >= $start",
        params,
    )


def _version(cursor: duckdb.DuckDBPyConnection, hour: dt.datetime) -> int:
    (version,) = cursor.execute(
        "SELECT coalesce(max(version), 0) FROM rollup_hour_versions WHERE hour = $hour",
        {"hour": hour},
    ).fetchone() or (0,)
    return int(version)


def spend(cursor: duckdb.DuckDBPyConnection, hour: dt.datetime) -> pl.DataFrame:
    """The hour's spend per series key (the series with rollup rows in it)."""
    series = hourly_grid(cursor, hour, hour + HOUR)
    return series.grid.join(series.keys, on="series").select(
        "key", "feature", "model", "tenant", "actual"
    )


INPUTS = """
SELECT s.series, s.first_hour,
       p.next_recent_hour, p.next_level_hour, p.next_mad_hour,
       p.next_recent_day, p.next_level_day, p.next_mad_day, p.next_active,
       {lags},
       d.before
FROM spend_state_series s
LEFT JOIN (SELECT * FROM spend_state WHERE hour = $previous) p USING (series)
{lag_joins}
LEFT JOIN (
    SELECT series, sum(actual) AS before FROM spend_state
    WHERE hour >= $day_from AND hour < $hour GROUP BY series
) d USING (series)
WHERE s.first_hour < $hour AND s.last_hour >= $alive
"""


def _inputs_sql(weeks: int) -> str:
    lags = ", ".join(
        f"l{k}.value_hour AS lag{k}_hour, l{k}.value_day AS lag{k}_day" for k in range(1, weeks + 1)
    )
    # The hour's lag: the greatest value within `phase` hours of it (baseline.seasonal_lag).
    joins = "\n".join(
        f"LEFT JOIN (SELECT series, max(value_hour) AS value_hour, "
        f"max(value_day) FILTER (WHERE hour = $lag{k}) AS value_day FROM spend_state "
        f"WHERE hour >= $lag{k} - $phase AND hour <= $lag{k} + $phase GROUP BY series) l{k} "
        f"USING (series)"
        for k in range(1, weeks + 1)
    )
    return INPUTS.format(lags=lags, lag_joins=joins)


def inputs(
    cursor: duckdb.DuckDBPyConnection,
    hour: dt.datetime,
    spend: pl.DataFrame,
    settings: Settings,
) -> dict[str, pl.DataFrame]:
    """Per grain, the rows `score_from_state` scores for `hour`: every series alive at it
    with `spend` (key, actual: the hour's spend; a known series without a row spent 0).
    A series seen for the first time (not in the state) has age 0 and no history.
    Columns besides the scored ones: key, feature, model, tenant."""
    weeks = settings.baseline.weeks
    params = {
        "hour": hour,
        "previous": hour - HOUR,
        "day_from": hour - 23 * HOUR,
        "alive": hour - (settings.history_hours() + 1) * HOUR,
        "phase": phase_hours(1, settings.baseline) * HOUR,
        **{f"lag{k}": hour - k * HOURS_PER_WEEK * HOUR for k in range(1, weeks + 1)},
    }
    known = cursor.execute(_inputs_sql(weeks), params).pl()
    keys = cursor.execute(
        "SELECT series, key, feature, model, tenant FROM spend_state_series "
        "WHERE first_hour < $hour AND last_hour >= $alive",
        {"hour": hour, "alive": params["alive"]},
    ).pl()
    known = known.join(keys, on="series")
    rows = known.join(spend.select("key", "actual"), on="key", how="left").with_columns(
        pl.col("actual").fill_null(0.0),
        age=((pl.lit(hour) - pl.col("first_hour")).dt.total_hours()).cast(pl.Int32),
    )
    new = spend.join(keys.select("key"), on="key", how="anti")
    if new.height:
        rows = pl.concat(
            [rows, new.with_columns(series=pl.lit(-1, pl.Int32), age=pl.lit(0, pl.Int32))],
            how="diagonal_relaxed",
        )
    rows = rows.with_columns(hour=pl.lit(hour))
    out = {}
    for grain, window in GRAINS:
        value = pl.col("actual")
        if window > 1:  # the trailing day: this hour and the 23 before, when all are known
            value = pl.when(pl.col("age") >= window - 1).then(
                value + pl.col("before").fill_null(0.0)
            )
        out[grain] = rows.select(
            "series", "hour", "actual", "key", "feature", "model", "tenant", "age",
            value.alias("value"),
            *(pl.col(f"lag{k}_{grain}").alias(f"lag{k}") for k in range(1, weeks + 1)),
            *(pl.col(f"next_{name}_{grain}").alias(name) for name in NEXT),
            pl.col("next_active").alias("active"),
        )  # fmt: skip
    return out


def score_hour(
    cursor: duckdb.DuckDBPyConnection,
    hour: dt.datetime,
    spend: pl.DataFrame,
    settings: Settings,
) -> dict[str, pl.DataFrame]:
    """Per grain, `hour` scored from the state (the hours before it must be derived):
    `warehouse.detection.baseline.score_from_state`'s columns plus key, feature, model, tenant."""
    scored = {}
    for grain, rows in inputs(cursor, hour, spend, settings).items():
        result = score_from_state(
            rows, window=1 if grain == "hour" else 24, thresholds=settings.thresholds(grain),
            baseline=settings.baseline,
        )  # fmt: skip
        scored[grain] = pl.concat(
            [result, rows.select("key", "feature", "model", "tenant")], how="horizontal"
        )
    return scored


# The statistics of one grain the next hour reads (see the module docstring).
NEXT_STATS = """
           CASE WHEN count(*) FILTER (WHERE hour > $recent_from) >= 6
                THEN avg(ln(value_{g} + $offset_{g})) FILTER (WHERE hour > $recent_from)
           END AS recent_{g},
           greatest(
               CASE WHEN count(*) FILTER (WHERE hour > $level_from) >= $level_hours
                    THEN median(coalesce(residual_{g}, 0)) FILTER (WHERE hour > $level_from)
               END,
               CASE WHEN count(*) FILTER (WHERE hour > $floor_from) >= $floor_hours
                    THEN median(coalesce(residual_{g}, 0)) FILTER (WHERE hour > $floor_from)
               END
           ) AS level_{g},
           CASE WHEN count(deviation_{g}) >= 12
                THEN quantile_cont(deviation_{g}, $scale_high)
                     - quantile_cont(deviation_{g}, $scale_low) END
               AS mad_{g},"""
NEXT_SQL = f"""
UPDATE spend_state SET
    next_recent_hour = a.recent_hour, next_level_hour = a.level_hour,
    next_mad_hour = a.mad_hour, next_recent_day = a.recent_day, next_level_day = a.level_day,
    next_mad_day = a.mad_day, next_active = a.active
FROM (
    SELECT series,{NEXT_STATS.format(g="hour")}{NEXT_STATS.format(g="day")}
           avg((actual > 0)::DOUBLE) AS active
    FROM spend_state
    WHERE hour > $scale_from AND hour <= $hour
    GROUP BY series
) a
WHERE spend_state.series = a.series AND spend_state.hour = $hour
"""


def derive(cursor: duckdb.DuckDBPyConnection, hour: dt.datetime, settings: Settings) -> None:
    """Derive the closed `hour` from its rollup rows and the state of the hours before."""
    b = settings.baseline
    alive = hour - (settings.history_hours() + 1) * HOUR
    # A series silent for the whole history window is forgotten: if it spends again it
    # starts learning anew, as a series new to the window did.
    cursor.execute(
        "DELETE FROM spend_state WHERE series IN "
        "(SELECT series FROM spend_state_series WHERE last_hour < $alive)",
        {"alive": alive},
    )
    cursor.execute("DELETE FROM spend_state_series WHERE last_hour < $alive", {"alive": alive})
    version = _version(cursor, hour)  # before the rows: a later re-roll is seen as a change
    spent = spend(cursor, hour)
    scored = score_hour(cursor, hour, spent, settings)
    rows = pl.concat(
        [
            scored["hour"].select(
                "series", "key", "feature", "model", "tenant", "actual",
                value_hour="value", residual_hour="residual", deviation_hour="deviation",
            ),
            scored["day"].select(
                value_day="value", residual_day="residual", deviation_day="deviation"
            ),
        ],
        how="horizontal",
    )  # fmt: skip
    (top,) = cursor.execute(
        "SELECT coalesce(max(series), -1) FROM spend_state_series"
    ).fetchone() or (-1,)
    new = rows.filter(pl.col("series") < 0)
    if new.height:
        new = new.with_columns(series=(pl.int_range(pl.len()) + int(top) + 1).cast(pl.Int32))
        rows = pl.concat([rows.filter(pl.col("series") >= 0), new])
        new_series = new.select(
            "series", "key", "feature", "model", "tenant",
            first_hour=pl.lit(hour), last_hour=pl.lit(hour),
        )  # fmt: skip
        with registered(cursor, "spend_state_new", new_series.to_arrow()):
            cursor.execute("INSERT INTO spend_state_series BY NAME SELECT * FROM spend_state_new")
    stored = rows.select(
        "series", pl.lit(hour).alias("hour"), "actual", "value_hour", "residual_hour",
        "deviation_hour", "value_day", "residual_day", "deviation_day",
    )  # fmt: skip
    with registered(cursor, "spend_state_rows", stored.to_arrow()):
        cursor.execute("INSERT INTO spend_state BY NAME SELECT * FROM spend_state_rows")
    with registered(cursor, "spend_state_spent", spent.select("key").to_arrow()):
        cursor.execute(
            "UPDATE spend_state_series SET last_hour = $hour "
            "WHERE key IN (SELECT key FROM spend_state_spent)",
            {"hour": hour},
        )
    cursor.execute(
        NEXT_SQL,
        {
            "hour": hour,
            "recent_from": hour - 24 * HOUR,
            "level_from": hour - b.level_hours * HOUR,
            "level_hours": b.level_hours,
            "floor_from": hour - b.level_floor_hours * HOUR,
            "floor_hours": b.level_floor_hours,
            "scale_from": hour - b.scale_hours * HOUR,
            "scale_low": b.scale_low,
            "scale_high": b.scale_high,
            "offset_hour": settings.hour.offset_usd,
            "offset_day": settings.day.offset_usd,
        },
    )
    cursor.execute(
        "INSERT INTO spend_state_hours VALUES ($hour, $version, $config, true)",
        {"hour": hour, "version": version, "config": settings.fingerprint()},
    )
    forget = hour - settings.retained_hours() * HOUR
    cursor.execute("DELETE FROM spend_state WHERE hour < $forget", {"forget": forget})
    cursor.execute("DELETE FROM spend_state_hours WHERE hour < $forget", {"forget": forget})


def rebuild(cursor: duckdb.DuckDBPyConnection, current: dt.datetime, settings: Settings) -> None:
    """The state for the hours before `current`, from scratch: the columnar baseline over
    the history window (the hours the window-based detector read), then the statistics of
    the hours the rolling statistics reach back and the values of the retained hours.

    `REBUILD_SERIES` series at a time, from the series query to the insert: the memory
    stays that of one chunk's grid however many series there are."""
    for table in ("spend_state", "spend_state_hours", "spend_state_series"):
        cursor.execute(f"DELETE FROM {table}")
    start = current - (settings.history_hours() + 1) * HOUR
    # The statistics the next hours read are kept for the hours a re-derivation may start
    # after (MAX_DERIVED_HOURS); the residuals and deviations for the hours they reach.
    stats_tail = MAX_DERIVED_HOURS + 2
    first_stored = current - settings.retained_hours() * HOUR
    for chunk in grids(cursor, start, current + HOUR, REBUILD_SERIES):
        grid = chunk.grid.drop("calls")
        known = (
            grid.filter(pl.col("actual").is_not_null() & (pl.col("hour") < current))
            .group_by("series")
            .agg(
                first_hour=pl.col("hour").min(),
                last_hour=pl.col("hour").filter(pl.col("actual") > 0).max(),
            )
            .with_columns(pl.coalesce("last_hour", "first_hour"))
            .join(chunk.keys, on="series")
        )
        if known.is_empty():
            continue
        with registered(cursor, "spend_state_new", known.to_arrow()):
            cursor.execute("INSERT INTO spend_state_series BY NAME SELECT * FROM spend_state_new")
        rows = _state_rows(grid, settings, stats_tail).filter(
            pl.col("actual").is_not_null()
            & (pl.col("hour") >= first_stored)
            & (pl.col("hour") < current)
        )
        # In hour order, as the derivation appends: a run's reads of a few hours then skip
        # most of the table (DuckDB's min/max per row group).
        with registered(cursor, "spend_state_rows", rows.sort("hour", "series").to_arrow()):
            cursor.execute("INSERT INTO spend_state BY NAME SELECT * FROM spend_state_rows")
    cursor.execute(
        """
        INSERT INTO spend_state_hours
        SELECT h.hour, coalesce(v.version, 0), $config, h.hour >= $stats
        FROM (SELECT unnest(generate_series($from, $last, INTERVAL 1 HOUR)) AS hour) h
        LEFT JOIN rollup_hour_versions v USING (hour)
        """,
        {
            "from": first_stored,
            "stats": current - (stats_tail - 1) * HOUR,
            "last": current - HOUR,
            "config": settings.fingerprint(),
        },
    )


def _state_rows(grid: pl.DataFrame, settings: Settings, stats_tail: int) -> pl.DataFrame:
    """A chunk's state rows: the grid (sorted by series then hour, rectangular) with each
    grain's window value (`value_<grain>`) and, over the hours the statistics of its last
    `stats_tail` hours reach, each grain's residual, deviation and the statistics the next
    hour reads (null before those hours)."""
    hours = grid["hour"].n_unique()
    frame = grid.with_columns(
        *(window_values(grid, window).alias(f"value_{grain}") for grain, window in GRAINS)
    )
    # The next row's statistics, where it is the same series' (the rows are in grid order).
    same = pl.col("series").shift(-1) == pl.col("series")
    parts = []
    for grain, window in GRAINS:
        stats = statistics(
            grid, window=window, thresholds=settings.thresholds(grain),
            baseline=settings.baseline, tail=stats_tail,
        )  # fmt: skip
        parts.append(
            stats.select(
                pl.col("residual").alias(f"residual_{grain}"),
                pl.col("deviation").alias(f"deviation_{grain}"),
                *(
                    pl.when(same).then(pl.col(name).shift(-1)).alias(f"next_{name}_{grain}")
                    for name in ("recent", "mad")
                ),
                pl.when(same).then(pl.col("raw_level").shift(-1)).alias(f"next_level_{grain}"),
                *(
                    [pl.when(same).then(pl.col("active").cast(pl.Float64).shift(-1))
                     .alias("next_active")]
                    if grain == "hour" else []
                ),
            )
        )  # fmt: skip
    # `statistics` keeps each series' last rows, in grid order: the same number per series.
    keep = parts[0].height * hours // max(grid.height, 1)
    at = pl.int_range(pl.len()) % hours
    older = frame.filter(at < hours - keep)
    recent = pl.concat([frame.filter(at >= hours - keep), *parts], how="horizontal")
    return pl.concat([older, recent], how="diagonal_relaxed")
