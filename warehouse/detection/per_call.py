"""Cost per call as its own signal: a cache collapse, longer prompts or a pricier model
behind the same calls, caught within hours even when the calls do not change.

Spend alone hides it: a series whose cost per call rises by 60 % at the same call count
moves its hourly spend by no more than its ordinary noise. The cost per call moves far
less on its own (the calls' noise cancels out), so it is watched apart, per series, on the
series grid (`warehouse.detection.series`: spend and calls per hour):

- value: the spend of the trailing `window_hours` (3), `calls` their calls;
- usual: the greater of the cost per call of the same window a day and a week before
  (a model mix that follows the time of day, or differs on weekends, is not a change);
  a legitimate drop (a price cut) is not watched;
- score: (ln(cost per call) - usual) / scale, the scale the spread of the deviations of
  the `scale_hours` (72) before from their median to their 75th percentile, as a sigma,
  floored at `min_scale` (the spread about their own median: the day after an earlier
  incident the usual is that incident's, and every deviation sits below zero; a MAD about
  zero took that for noise and kept 2x rises under 4 sigma);
- fires up when the score >= `min_score`, the ratio >= `min_ratio`, the excess (spend -
  calls x the usual cost per call, USD) >= `min_excess_usd`, the window has
  `min_calls` calls and the series `min_history_hours` of history.

expected = calls x the usual cost per call: the spend the same calls would have cost.
Causal (a row reads only earlier rows); the live detector scores the last hours of the
same grid over the hours the statistics reach (`reach`), so it equals the full scoring.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import polars as pl

from warehouse.detection.baseline import rolling_spread, sigma_per_spread
from warehouse.detection.series import hourly_grid

HOUR = dt.timedelta(hours=1)
LAGS = (24, 168)  # hours: the usual cost per call is the greater of these windows' before


@dataclass(frozen=True)
class PerCall:
    """When a series' cost per call fires."""

    enabled: bool = True
    window_hours: int = 3
    scale_hours: int = 72
    scale_low: float = 0.5  # the scale: the spread between these quantiles, as a sigma
    scale_high: float = 0.75
    min_history_hours: int = 171  # a week and a whole window
    min_calls: int = 30
    min_score: float = 4.0
    min_ratio: float = 1.25
    min_excess_usd: float = 5.0
    min_spend_usd: float = 5.0
    min_scale: float = 0.05

    def reach(self) -> int:
        """The hours before a scored hour its statistics read."""
        return max(LAGS) + self.window_hours + self.scale_hours + 1


PER_CALL = PerCall()
COLUMNS = ("series", "hour", "value", "calls", "expected", "ratio", "score", "age", "fires")


def score_per_call(grid: pl.DataFrame, thresholds: PerCall = PER_CALL) -> pl.DataFrame:
    """Score every row of a rectangular series grid (series, hour, actual, calls; sorted by
    series then hour): `COLUMNS`, `fires` 'up' or null."""
    t = thresholds
    hours = grid["hour"].n_unique()
    w = t.window_hours
    frame = grid.with_columns(at=pl.int_range(pl.len()) % hours)

    def masked(expr: pl.Expr, reach: int) -> pl.Expr:
        return pl.when(pl.col("at") >= reach).then(expr)

    seen = pl.col("actual").is_not_null().cast(pl.Int32)
    frame = frame.with_columns(
        value=masked(pl.col("actual").rolling_sum(w), w - 1),
        calls=masked(pl.col("calls").rolling_sum(w), w - 1),
        seen=seen.cum_sum(),
        seen_before=pl.when(pl.col("at") == 0).then(seen.cum_sum() - seen).forward_fill(),
    ).with_columns(
        age=(pl.col("seen") - pl.col("seen_before") - 1).cast(pl.Int32),
        log=pl.when(pl.col("calls") >= t.min_calls).then((pl.col("value") / pl.col("calls")).log()),
    )
    frame = frame.with_columns(
        usual=pl.max_horizontal(masked(pl.col("log").shift(lag), lag) for lag in LAGS)
    ).with_columns(deviation=pl.col("log") - pl.col("usual"))
    spread = rolling_spread(pl.col("deviation"), t.scale_low, t.scale_high, t.scale_hours)
    frame = frame.with_columns(
        scale=(masked(spread, t.scale_hours) * sigma_per_spread(t.scale_low, t.scale_high)).clip(
            lower_bound=t.min_scale
        ),
        expected=pl.col("calls") * pl.col("usual").exp(),
    ).with_columns(
        score=pl.col("deviation") / pl.col("scale"),
        ratio=pl.col("deviation").exp(),
    )
    up = (
        pl.lit(t.enabled)
        & (pl.col("age") >= t.min_history_hours)
        & (pl.col("score") >= t.min_score)
        & (pl.col("ratio") >= t.min_ratio)
        & (pl.col("value") - pl.col("expected") >= t.min_excess_usd)
        & (pl.col("value") >= t.min_spend_usd)
    )
    return frame.with_columns(fires=pl.when(up.fill_null(False)).then(pl.lit("up"))).select(
        *COLUMNS
    )


def score_live(
    cursor: duckdb.DuckDBPyConnection,
    hours: list[dt.datetime],
    thresholds: PerCall = PER_CALL,
) -> pl.DataFrame:
    """The `hours` (consecutive, naive UTC; the last may be the hour under way, its spend
    and calls so far) scored from the series grid over the hours the statistics reach:
    `COLUMNS` plus key, feature, model, tenant; empty when per-call scoring is off."""
    if not thresholds.enabled or not hours:
        return pl.DataFrame()
    start = hours[0] - thresholds.reach() * HOUR
    series = hourly_grid(cursor, start, hours[-1] + HOUR)
    if series.grid.is_empty():
        return pl.DataFrame()
    scored = score_per_call(series.grid, thresholds).filter(pl.col("hour") >= hours[0])
    return scored.join(series.keys, on="series")
