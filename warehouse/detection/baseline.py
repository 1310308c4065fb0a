"""The spend baseline and its robust score: pure polars over every series at once.

Input: a dense hourly grid, one row per (series, hour) from the series' first hour on, with
the spend of that hour (`actual`, float USD: the statistics only; the figures a signal
reports are recomputed exactly). For a `window` of w hours the value scored at hour t is
the spend of the w hours ending with t (w = 1: the hour; w = 24: the trailing day, so a
ramp shows up within hours rather than the next morning).

All in log space, l = ln(value + offset), and causal (row t only looks at rows before it):
- seasonal(t): the median of l at the same hour of week over the last `weeks` weeks (the
  weeks the series has); one past incident in those weeks does not move a median. For
  the hour (w = 1) each week's value is the greatest of the hours within `phase_hours`
  (1) of that hour, so a daily pattern shifted by an hour (daylight saving, a customer in
  another zone) is absorbed at once rather than over the weeks the median needs;
- level(t): the median residual l - seasonal over the last `level_hours`, a level
  correction for growth since those weeks, but never below the median residual of the
  last `level_floor_hours` (a week): it rises fast and falls slowly. A lasting level shift
  up moves it within about half of `level_hours`, after which the shift is the new normal
  and stops firing; a spike of a few hours does not move it; a quiet day (a holiday, an
  outage) does not lower the next day's expectation, a lasting drop (a price cut) lowers
  it within half a week;
- expected(t) = exp(seasonal + level) - offset; score(t) = (l - expected log) / scale, where
  scale is the spread of the past `scale_hours`' deviations between their median and
  their 75th percentile (`scale_low`, `scale_high`), as a sigma (/ 0.6745), floored at
  `min_scale`. It measures the spread about the deviations' own median, not about zero:
  while the level floor holds the expectation up after a drop, every deviation sits below
  zero for days, and a MAD about zero measured that offset rather than the noise (several
  times the noise on the series that then missed 3-5x spikes). The upper half of the
  spread ignores the deviations' lower tail (hours at the steep edges of a daily pattern,
  where the phase-tolerant lag is above the spend; a holiday in a lag week).

New series: the seasonal rule needs `min_weeks` (2) weeks of whole windows at the same
hour of the week; a series with less (a new feature, a fresh install) is judged by the
separate, clearly labelled **new-series rule** (`cold`): its baseline is the mean (log
space) of its own last day, with no level correction, and it fires only at `new_ratio`
(4x per hour, 3x per day; `cold_score`, 0 by default, can add a score), so a launch
growing over its first days does not page while a 5x spike on its fourth day does. A
series younger than `min_history_hours` is learning and never fires. Sparse series (an
hour with spend less than half the time over `scale_hours`) never fire per hour: their
trailing-day window does.

A row fires up when the score, the absolute excess (value - expected, USD), the ratio
(value / expected) and the value itself all pass their thresholds (`Thresholds`); down
(a drop) is the mirror image, off by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import polars as pl

HOURS_PER_WEEK = 168
MAD_TO_SIGMA = 1.4826


def sigma_per_spread(low: float, high: float) -> float:
    """What turns the spread between the `low` and `high` quantiles into a sigma for
    normal noise (1 / 1.349 for the interquartile range)."""
    normal = NormalDist()
    return 1 / (normal.inv_cdf(high) - normal.inv_cdf(low))


def rolling_spread(expr: pl.Expr, low: float, high: float, window: int) -> pl.Expr:
    """The `high` minus the `low` quantile of `expr` over the `window` rows before each
    row (linear interpolation, as DuckDB's quantile_cont), null with fewer than 12."""
    before = expr.shift(1)

    def quantile(q: float) -> pl.Expr:
        return before.rolling_quantile(
            q, interpolation="linear", window_size=window, min_samples=12
        )

    return quantile(high) - quantile(low)


@dataclass(frozen=True)
class Thresholds:
    """When a scored window fires; one set per window length (an hour, a day)."""

    min_score: float = 4.0  # robust z in log space
    # The same for new series (the new-series rule): their spread includes the daily cycle,
    # so new_ratio is their bar.
    cold_score: float = 0.0
    new_ratio: float = 4.0  # a new series fires at this many times its last day's level
    min_excess_usd: float = 5.0  # value - expected
    min_ratio: float = 1.5  # value / expected
    min_spend_usd: float = 2.0  # value
    offset_usd: float = 0.5  # added before the log: keeps tiny values from dominating
    min_scale: float = 0.12  # floor of the log-space scale (about 12 %)
    detect_drops: bool = False


@dataclass(frozen=True)
class Baseline:
    """How the expected value is formed (see the module docstring)."""

    weeks: int = 4  # 1 to 4
    level_hours: int = 48
    level_floor_hours: int = 168  # the level never falls below this window's median
    phase_hours: int = 1  # an hour's seasonal lags: the greatest within this many hours
    scale_hours: int = 336
    # The scale: the spread between these quantiles of the deviations of `scale_hours`,
    # as a sigma: the upper half of the spread about the deviations' own median.
    scale_low: float = 0.5
    scale_high: float = 0.75
    min_history_hours: int = 24
    # The seasonal rule needs this many weeks of whole windows at the same hour of the
    # week; before, the new-series rule: the series' own last day, new_ratio and cold_score.
    min_weeks: int = 2
    sparse_share: float = 0.5  # hourly windows need spend in at least this share of hours


BASELINE = Baseline()
HOUR = Thresholds()
DAY = Thresholds(
    min_score=4.0, cold_score=0.0, new_ratio=3.0, min_excess_usd=25.0, min_ratio=1.3,
    min_spend_usd=10.0, offset_usd=5.0, min_scale=0.08,
)  # fmt: skip


def score(
    grid: pl.DataFrame,
    *,
    window: int,
    thresholds: Thresholds,
    baseline: Baseline = BASELINE,
    tail: int | None = None,
) -> pl.DataFrame:
    """Score the rows of a rectangular `grid` (see `statistics`): per row `value` (the
    window's spend), `expected`, `score`, `age` (hours since the series' first spend),
    `cold`, `sparse` and `fires` ('up', 'down' or null)."""
    return statistics(
        grid, window=window, thresholds=thresholds, baseline=baseline, tail=tail
    ).select(*COLUMNS)


def statistics(
    grid: pl.DataFrame,
    *,
    window: int,
    thresholds: Thresholds,
    baseline: Baseline = BASELINE,
    tail: int | None = None,
) -> pl.DataFrame:
    """Score the rows of a rectangular `grid`: columns series, hour, actual; sorted by series
    then hour, every series over the same consecutive hours, `actual` null before the
    series' first hour with spend (its age counts from there) and 0 for a quiet hour after.

    Only the series' own earlier rows feed a row's baseline. Every operation runs over the
    whole column at once (a shift or a rolling window, masked where it would reach into the
    previous series), never per group: 10,000 series cost a few column passes.
    `tail`: score only each series' last `tail` hours (the live detector), computing the
    rolling statistics on just the rows those need. The first `scale_hours` hours of the
    grid are warm-up and never fire.

    Returns `score`'s columns and the statistics behind them, among them `residual`,
    `deviation`, and the inputs `score_from_state` takes: `raw_level` (before the cold
    override), `mad`, `recent`, `active`.
    """
    t, b = thresholds, baseline
    hours = grid["hour"].n_unique()
    if len(grid) % max(hours, 1):
        raise ValueError("the grid is not rectangular: every series needs the same hours")
    frame = grid.with_columns(_position(hours))
    seen = pl.col("actual").is_not_null().cast(pl.Int32)
    frame = frame.with_columns(
        value=window_value(window),
        seen=seen.cum_sum(),
        seen_before=pl.when(pl.col("at") == 0).then(seen.cum_sum() - seen).forward_fill(),
    ).with_columns(
        age=(pl.col("seen") - pl.col("seen_before") - 1).cast(pl.Int32),
        **{f"lag{k}": seasonal_lag(k, window, b) for k in range(1, b.weeks + 1)},
    )
    keep = hours
    if tail is not None:  # the rows the tail's statistics need, and nothing before them
        keep = min(hours, tail + b.scale_hours + max(b.level_hours, b.level_floor_hours) + 1)
        frame = frame.filter(pl.col("at") >= hours - keep).with_columns(_position(keep))
    log = (pl.col("value") + t.offset_usd).log()
    frame = frame.with_columns(
        recent=_masked(log.shift(1).rolling_mean(24, min_samples=6), 24),
        active=_masked(
            (pl.col("actual") > 0)
            .cast(pl.Float32)
            .shift(1)
            .rolling_mean(b.scale_hours, min_samples=1),
            b.scale_hours,
        ),
    )
    frame = _residual(frame, t, b)
    # A missing residual (before the series' first spend) counts as 0 (no correction):
    # a rolling median over nulls is several times slower (even the one null a shift adds;
    # the windows it reaches are masked).
    residuals = pl.col("residual").fill_null(0.0).shift(1, fill_value=0.0)
    floor = pl.when(pl.col("age") >= b.level_floor_hours).then(
        _masked(residuals.rolling_median(b.level_floor_hours), b.level_floor_hours)
    )
    level = pl.max_horizontal(
        _masked(residuals.rolling_median(b.level_hours), b.level_hours), floor
    )
    # Computed once (an eager with_columns would compute a repeated expression twice).
    frame = frame.with_columns(level=level).with_columns(raw_level=pl.col("level"))
    frame = _deviation(frame)
    if tail is None or tail > 24:
        mad = rolling_spread(pl.col("deviation"), b.scale_low, b.scale_high, b.scale_hours)
        frame = frame.with_columns(mad=_masked(mad, b.scale_hours))
    else:
        frame = _tail_mad(frame, keep, tail, b)
    return _judge(frame, window, t, b)


COLUMNS = (
    "series", "hour", "actual", "value", "expected", "score", "age", "cold", "sparse", "fires",
)  # fmt: skip


def score_from_state(
    rows: pl.DataFrame, *, window: int, thresholds: Thresholds, baseline: Baseline = BASELINE
) -> pl.DataFrame:
    """Score one hour per series from the statistics of the hours before it, as stored by
    `warehouse.detection.state`, with the same steps as `score`: the same values for the row.

    `rows`: series, hour, actual, `value` (the window's spend), `lag1`..`lag<weeks>` (the
    value at the same hour 1..weeks weeks before, null where the series had none),
    `recent` (the mean of ln(value + offset) over the 24 hours before, null with fewer
    than 6), `active` (the share of the `scale_hours` before with spend), `level` (the
    level correction: the greater of the median residuals of the `level_hours` and the
    `level_floor_hours` before), `mad` (the median absolute deviation of
    the `scale_hours` before, null with fewer than 12) and `age`. Returns `score`'s columns
    and the row's `residual` and `deviation`, which the state keeps for the hours after.
    """
    frame = _residual(rows, thresholds, baseline)
    frame = _deviation(frame.with_columns(pl.col("level").cast(pl.Float64)))
    return _judge(frame, window, thresholds, baseline).select(*COLUMNS, "residual", "deviation")


def _residual(frame: pl.DataFrame, t: Thresholds, b: Baseline) -> pl.DataFrame:
    """seasonal (the median of the lags in log space, else `recent` for a cold series),
    cold and residual, from value, lag1.., recent."""
    weeks = [f"lag{k}" for k in range(1, b.weeks + 1)]
    frame = frame.with_columns((pl.col(weeks) + t.offset_usd).log())
    known = pl.sum_horizontal(pl.col(w).is_not_null().cast(pl.Int8) for w in weeks)
    return (
        median_of_few(frame, weeks, "seasonal")
        .with_columns(log=(pl.col("value") + t.offset_usd).log())
        .with_columns(cold=known < min(b.min_weeks, b.weeks))
        .with_columns(seasonal=pl.when(pl.col("cold")).then(pl.col("recent")).otherwise("seasonal"))
        .with_columns(residual=pl.col("log") - pl.col("seasonal"))
    )


def _deviation(frame: pl.DataFrame) -> pl.DataFrame:
    """The level correction (none for a cold series) and the deviation from it."""
    return frame.with_columns(
        level=pl.when(pl.col("cold")).then(0.0).otherwise(pl.col("level").fill_null(0.0)),
    ).with_columns(deviation=pl.col("residual") - pl.col("level"))


def _judge(frame: pl.DataFrame, window: int, t: Thresholds, b: Baseline) -> pl.DataFrame:
    """scale, expected, score, sparse and fires from seasonal, level, deviation, mad,
    active, age and cold."""
    frame = frame.with_columns(
        scale=(pl.col("mad") * sigma_per_spread(b.scale_low, b.scale_high)).clip(
            lower_bound=t.min_scale
        ),
        expected=((pl.col("seasonal") + pl.col("level")).exp() - t.offset_usd).clip(
            lower_bound=0.0
        ),
    ).with_columns(
        score=pl.col("deviation") / pl.col("scale"),
        sparse=pl.lit(window == 1) & (pl.col("active") < b.sparse_share),
    )
    needed = pl.when(pl.col("cold")).then(t.cold_score).otherwise(t.min_score)
    eligible = (
        (pl.col("age") >= b.min_history_hours)
        & pl.col("seasonal").is_not_null()
        & pl.col("scale").is_not_null()
        & ~pl.col("sparse").fill_null(True)
    )
    excess = pl.col("value") - pl.col("expected")
    up = (
        eligible
        & (pl.col("score") >= needed)
        & (excess >= t.min_excess_usd)
        & (pl.col("value") >= t.min_spend_usd)
        & (pl.col("value") >= t.min_ratio * pl.col("expected"))
        & (~pl.col("cold") | (pl.col("value") >= t.new_ratio * pl.col("expected")))
    )
    down = (
        pl.lit(t.detect_drops)
        & eligible
        & (pl.col("score") <= -needed)
        & (-excess >= t.min_excess_usd)
        & (pl.col("expected") >= t.min_spend_usd)
        & (pl.col("expected") >= t.min_ratio * pl.col("value"))
    )
    fires = pl.when(up).then(pl.lit("up")).when(down).then(pl.lit("down"))
    return frame.with_columns(fires=fires)


def _tail_mad(frame: pl.DataFrame, keep: int, tail: int, b: Baseline) -> pl.DataFrame:
    """The rolling spread of the deviations (`scale_low` to `scale_high` quantile) at the last
    `tail` rows of each series only: grouped quantiles per row instead of rolling ones over
    every row (the same values)."""
    parts = []
    reach = b.scale_hours
    for at in range(keep - tail, keep):
        window = frame.filter((pl.col("at") >= max(at - reach, 0)) & (pl.col("at") < at)).group_by(
            "series"
        )
        deviation = pl.col("deviation")
        spread = deviation.quantile(b.scale_high, interpolation="linear") - deviation.quantile(
            b.scale_low, interpolation="linear"
        )
        mads = window.agg(mad=pl.when(pl.col("deviation").count() >= 12).then(spread))
        parts.append(mads.with_columns(at=pl.lit(at, pl.Int64)))
    mad = pl.concat(parts)
    rows = frame.filter(pl.col("at") >= keep - tail)
    return rows.join(mad, on=["series", "at"], how="left").sort("series", "at")


def phase_hours(window: int, baseline: Baseline) -> int:
    """How many hours either side of the same hour of the week a lag reaches (hours only:
    a trailing day barely moves when the daily pattern shifts by an hour)."""
    return baseline.phase_hours if window == 1 else 0


def seasonal_lag(k: int, window: int, baseline: Baseline) -> pl.Expr:
    """The value k weeks before each row: the greatest of the hours within `phase_hours`
    of the same hour of the week, so a daily pattern an hour earlier or later (daylight
    saving, a customer in another zone) is not a rise; null where it reaches before the
    series' rows in the grid."""
    reach = phase_hours(window, baseline)
    lag = HOURS_PER_WEEK * k
    values = [pl.col("value").shift(lag + d) for d in range(-reach, reach + 1)]
    return _masked(pl.max_horizontal(values) if reach else values[0], lag + reach)


def window_values(grid: pl.DataFrame, window: int) -> pl.Series:
    """The `value` `score` reads for each row of a rectangular `grid`: the spend of the
    `window` hours ending with the row."""
    hours = grid["hour"].n_unique()
    return grid.with_columns(_position(hours)).select(value=window_value(window))["value"]


def window_value(window: int) -> pl.Expr:
    """The spend of the `window` hours ending with each row (a grid with `at`); null while
    the window reaches before the series' first spend (a partial window, such as a new
    series' or a fresh install's first day, is never a baseline nor scored)."""
    if window == 1:
        return pl.col("actual")
    whole = pl.col("actual").shift(window - 1).is_not_null()
    return _masked(pl.when(whole).then(pl.col("actual").rolling_sum(window)), window - 1)


def _position(hours: int) -> pl.Expr:
    """`at`: the row's hour index within its series (the grid is rectangular)."""
    return (pl.int_range(pl.len()) % hours).alias("at")


def _masked(expr: pl.Expr, reach: int) -> pl.Expr:
    """`expr` computed over the whole column, null where it reaches `reach` rows back into
    the previous series."""
    return pl.when(pl.col("at") >= reach).then(expr)


def median_of_few(frame: pl.DataFrame, columns: list[str], name: str) -> pl.DataFrame:
    """The median of up to four columns per row, nulls ignored (null when all are): from
    their count, sum, min and max (computed once each), far faster than a list median."""
    if not 1 <= len(columns) <= 4:
        raise ValueError("the seasonal median takes one to four weeks")
    values = [pl.col(c) for c in columns]
    parts = frame.with_columns(
        _n=pl.sum_horizontal(*(v.is_not_null().cast(pl.Int8) for v in values)),
        _total=pl.sum_horizontal(*values),
        _low=pl.min_horizontal(*values),
        _high=pl.max_horizontal(*values),
    )
    inner = pl.col("_total") - pl.col("_low") - pl.col("_high")
    median = (
        pl.when(pl.col("_n") == 4)
        .then(inner / 2)
        .when(pl.col("_n") == 3)
        .then(inner)
        .when(pl.col("_n") == 2)
        .then(pl.col("_total") / 2)
        .when(pl.col("_n") == 1)
        .then(pl.col("_total"))
    )
    return parts.with_columns(median.alias(name)).drop("_n", "_total", "_low", "_high")
