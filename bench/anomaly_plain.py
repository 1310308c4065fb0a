"""The plain baseline the detector must beat: a seasonal median + MAD, with the detector's
own floors.

Per series, in log space l = ln(value + offset), causal: expected = the median of l at the
same hour of the week over the last `weeks` weeks the series has (no level correction, no
new-series rule: a series without a week of history is not scored), the score is the
residual over 1.4826 x the median absolute residual of the `scale_hours` before (floored
at `min_scale`), and a row fires up when the score, the excess, the ratio and the spend
pass the same `Thresholds` as the detector's, the series is at least `min_history_hours`
old and, per hour, not sparse. It is what "a seasonal median and a MAD" means, scored on
the same series grid with the same floors.
"""

from __future__ import annotations

import polars as pl

from warehouse.detection.baseline import (
    HOURS_PER_WEEK,
    MAD_TO_SIGMA,
    Baseline,
    Thresholds,
    median_of_few,
    window_value,
)


def plain_score(
    grid: pl.DataFrame, *, window: int, thresholds: Thresholds, baseline: Baseline
) -> pl.DataFrame:
    """Score every row of a rectangular grid (series, hour, actual; sorted by series then
    hour): series, hour, value, expected, score, fires ('up' or null)."""
    t, b = thresholds, baseline
    hours = grid["hour"].n_unique()
    at = (pl.int_range(pl.len()) % hours).alias("at")
    seen = pl.col("actual").is_not_null().cast(pl.Int32)

    def masked(expr: pl.Expr, reach: int) -> pl.Expr:
        return pl.when(pl.col("at") >= reach).then(expr)

    frame = (
        grid.with_columns(at)
        .with_columns(
            value=window_value(window),
            seen=seen.cum_sum(),
            seen_before=pl.when(pl.col("at") == 0).then(seen.cum_sum() - seen).forward_fill(),
        )
        .with_columns(age=pl.col("seen") - pl.col("seen_before") - 1)
    )
    lags = [f"lag{k}" for k in range(1, b.weeks + 1)]
    frame = frame.with_columns(
        (masked(pl.col("value").shift(HOURS_PER_WEEK * k), HOURS_PER_WEEK * k) + t.offset_usd)
        .log()
        .alias(f"lag{k}")
        for k in range(1, b.weeks + 1)
    )
    frame = median_of_few(frame, lags, "seasonal").with_columns(
        residual=(pl.col("value") + t.offset_usd).log() - pl.col("seasonal"),
        active=masked(
            (pl.col("actual") > 0).cast(pl.Float32).shift(1).rolling_mean(b.scale_hours),
            b.scale_hours,
        ),
    )
    mad = pl.col("residual").abs().shift(1).rolling_median(b.scale_hours, min_samples=12)
    frame = frame.with_columns(
        scale=(masked(mad, b.scale_hours) * MAD_TO_SIGMA).clip(lower_bound=t.min_scale),
        expected=(pl.col("seasonal").exp() - t.offset_usd).clip(lower_bound=0.0),
    ).with_columns(score=pl.col("residual") / pl.col("scale"))
    sparse = pl.lit(window == 1) & (pl.col("active") < b.sparse_share)
    up = (
        (pl.col("age") >= b.min_history_hours)
        & pl.col("scale").is_not_null()
        & ~sparse.fill_null(True)
        & (pl.col("score") >= t.min_score)
        & (pl.col("value") - pl.col("expected") >= t.min_excess_usd)
        & (pl.col("value") >= t.min_spend_usd)
        & (pl.col("value") >= t.min_ratio * pl.col("expected"))
    )
    return frame.select(
        "series", "hour", "value", "expected", "score", fires=pl.when(up).then(pl.lit("up"))
    )
