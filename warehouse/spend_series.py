"""Spend series: hourly spend per feature, model, tenant, feature x model and in total.

One DuckDB query over `rollup_hourly` builds every series at once (GROUPING SETS) as a
rectangular grid, the input of `warehouse.baseline.score`: one row per (series, hour) over
the same hours for every series, the spend as a float (for the statistics only), null
before the series' first spend in the window and 0 in a quiet hour after it.

A series is named by its dimensions, spelled the same on every run:
`feature=search`, `model=openai/gpt-4o`, `tenant=acme`,
`feature=search|model=openai/gpt-4o`, `total`. A call without a feature or tenant counts
under `(none)`; a model is `provider/model` (just the model when the provider is unknown).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

NONE = "(none)"
# The dimension sets watched: each is one GROUPING SET.
DIMENSION_SETS: tuple[tuple[str, ...], ...] = (
    (),
    ("feature",),
    ("model",),
    ("tenant",),
    ("feature", "model"),
)
# How each dimension is spelled from a rollup_hourly row.
DIMENSION_SQL = {
    "feature": f"coalesce(feature, '{NONE}')",
    "model": "CASE WHEN provider = '' THEN model ELSE provider || '/' || model END",
    "tenant": f"coalesce(tenant_id, '{NONE}')",
}


@dataclass(frozen=True)
class SeriesGrid:
    grid: pl.DataFrame  # series (id), hour, actual
    keys: pl.DataFrame  # series (id), key, feature, model, tenant


def _grouping_sets() -> str:
    sets = ", ".join("(" + ", ".join(("hour", *dims)) + ")" for dims in DIMENSION_SETS)
    return f"GROUPING SETS ({sets})"


GRID = f"""
WITH hourly AS (
    SELECT hour, {DIMENSION_SQL["feature"]} AS feature, {DIMENSION_SQL["model"]} AS model,
           {DIMENSION_SQL["tenant"]} AS tenant, sum(cost_usd)::DOUBLE AS cost
    FROM rollup_hourly
    WHERE hour >= $start AND hour < $end
    GROUP BY ALL
),
sets AS (
    SELECT hour,
           CASE WHEN grouping(feature) = 0 THEN feature END AS feature,
           CASE WHEN grouping(model) = 0 THEN model END AS model,
           CASE WHEN grouping(tenant) = 0 THEN tenant END AS tenant,
           sum(cost) AS cost
    FROM hourly
    GROUP BY {_grouping_sets()}
),
keyed AS (
    SELECT coalesce(nullif(concat_ws('|', 'feature=' || feature, 'model=' || model,
                                     'tenant=' || tenant), ''), 'total') AS key, *
    FROM sets
)
SELECT key, hour, feature, model, tenant, cost FROM keyed
"""


def hourly_grid(
    cursor: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime
) -> SeriesGrid:
    """Every series' hourly spend over the hours [start, end) (naive UTC, whole hours)."""
    spend = cursor.execute(GRID, {"start": start, "end": end}).pl()
    keys = (
        spend.group_by("key")
        .agg(pl.col("feature", "model", "tenant").first(), first=pl.col("hour").min())
        .sort("key")
        .with_row_index("series")
        .with_columns(pl.col("series").cast(pl.Int32))
    )
    hours = pl.DataFrame(
        {"hour": pl.datetime_range(start, end, "1h", closed="left", eager=True)}
    ).with_columns(pl.col("hour").cast(spend.schema["hour"]) if len(spend) else pl.col("hour"))
    grid = (
        keys.select("series", "key", "first")
        .join(hours, how="cross")
        .join(spend.select("key", "hour", "cost"), on=["key", "hour"], how="left")
        .select(
            "series",
            "hour",
            actual=pl.when(pl.col("hour") >= pl.col("first")).then(pl.col("cost").fill_null(0.0)),
        )
        .sort("series", "hour")
    )
    return SeriesGrid(grid, keys.drop("first"))


def series_filter(dimensions: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A rollup_hourly condition selecting one series' rows, and its parameters."""
    conditions, params = [], {}
    for name in ("feature", "model", "tenant"):
        value = dimensions.get(name)
        if value is None:
            continue
        conditions.append(f"{DIMENSION_SQL[name]} = $dim_{name}")
        params[f"dim_{name}"] = value
    return " AND ".join(conditions) or "TRUE", params
