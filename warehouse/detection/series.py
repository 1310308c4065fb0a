"""Spend series: hourly spend per feature, model, tenant, feature x model and in total.

One DuckDB query over `rollup_hourly` builds every series at once (GROUPING SETS) as a
rectangular grid, the input of `warehouse.detection.baseline.score`: one row per (series, hour) over
the same hours for every series, the spend as a float (for the statistics only) and the
calls (for the cost per call, `warehouse.detection.per_call`), null before the series'
first spend in the window and 0 in a quiet hour after it.

A series is named by its dimensions, spelled the same on every run:
`feature=search`, `model=openai/gpt-4o`, `tenant=acme`,
`feature=search|model=openai/gpt-4o`, `total`. A call without a feature or tenant counts
under `(none)`; a model is `provider/model` (just the model when the provider is unknown).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from warehouse.store.staging import registered

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
    grid: pl.DataFrame  # series (id), hour, actual (USD), calls
    keys: pl.DataFrame  # series (id), key, feature, model, tenant


def _grouping_sets() -> str:
    columns = {"feature": ("feature",), "model": ("provider", "model"), "tenant": ("tenant_id",)}
    sets = ", ".join(
        "(" + ", ".join(("hour", *(c for d in dims for c in columns[d]))) + ")"
        for dims in DIMENSION_SETS
    )
    return f"GROUPING SETS ({sets})"


SPEND = f"""
CREATE OR REPLACE TEMP TABLE spend_hourly AS
WITH sets AS (
    SELECT hour, grouping(feature, provider, model, tenant_id) AS dimension_set,
           CASE WHEN grouping(feature) = 0 THEN {DIMENSION_SQL["feature"]} ELSE '' END
               AS feature,
           CASE WHEN grouping(model) = 0 THEN {DIMENSION_SQL["model"]} ELSE '' END AS model,
           CASE WHEN grouping(tenant_id) = 0 THEN {DIMENSION_SQL["tenant"]} ELSE '' END
               AS tenant,
           sum(cost_usd::DOUBLE) AS cost,  -- statistics only: float is fine, and fast
           sum(calls)::DOUBLE AS calls
    FROM rollup_hourly
    WHERE hour >= $start AND hour < $end
    GROUP BY {_grouping_sets()}
),
keys AS (
    SELECT (row_number() OVER () - 1)::INTEGER AS series, *
    FROM (SELECT DISTINCT dimension_set, feature, model, tenant FROM sets)
)
SELECT k.series, s.hour, s.cost, s.calls, k.feature, k.model, k.tenant
FROM sets s JOIN keys k USING (dimension_set, feature, model, tenant)
"""
KEYS = """
CREATE OR REPLACE TEMP TABLE spend_keys AS
SELECT series,
       coalesce(nullif(concat_ws('|', 'feature=' || nullif(any_value(feature), ''),
                                 'model=' || nullif(any_value(model), ''),
                                 'tenant=' || nullif(any_value(tenant), '')), ''), 'total')
           AS key,
       any_value(feature) AS feature, any_value(model) AS model,
       any_value(tenant) AS tenant, min(hour) AS first
FROM spend_hourly
GROUP BY series
"""

GRID = """
SELECT k.series, h.hour,
       CASE WHEN h.hour >= k.first THEN coalesce(v.cost, 0) END AS actual,
       CASE WHEN h.hour >= k.first THEN coalesce(v.calls, 0) END AS calls
FROM spend_keys k
CROSS JOIN (SELECT unnest(generate_series($start, $last, INTERVAL 1 HOUR)) AS hour) h
LEFT JOIN spend_hourly v ON v.series = k.series AND v.hour = h.hour
ORDER BY k.series, h.hour
"""


def hourly_grid(
    cursor: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime
) -> SeriesGrid:
    """Every series' hourly spend over the hours [start, end) (naive UTC, whole hours)."""
    cursor.execute(SPEND, {"start": start, "end": end})
    cursor.execute(KEYS)
    keys = cursor.execute(
        "SELECT series, key, nullif(feature, '') AS feature, nullif(model, '') AS model, "
        "nullif(tenant, '') AS tenant FROM spend_keys ORDER BY series"
    ).pl()
    grid = cursor.execute(GRID, {"start": start, "last": end - dt.timedelta(hours=1)}).pl()
    cursor.execute("DROP TABLE spend_hourly")
    cursor.execute("DROP TABLE spend_keys")
    return SeriesGrid(grid, keys)


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


def window_spend(
    cursor: duckdb.DuckDBPyConnection,
    windows: list[tuple[dict[str, Any], dt.datetime, dt.datetime]],
) -> list[Decimal]:
    """The exact spend (DECIMAL, from rollup_hourly) of each (dimensions, start, end)
    window, in order: one query for them all, however many series fired."""
    if not windows:
        return []
    frame = pl.DataFrame(
        {
            "idx": range(len(windows)),
            **{
                name: [d.get(name) for d, _, _ in windows]
                for name in ("feature", "model", "tenant")
            },
            "start": [start for _, start, _ in windows],
            "end": [end for _, _, end in windows],
        },
        schema_overrides={"feature": pl.String, "model": pl.String, "tenant": pl.String},
    )
    with registered(cursor, "spend_windows", frame.to_arrow()):
        rows = cursor.execute(
            f"""
            WITH rows AS (
                SELECT hour, {DIMENSION_SQL["feature"]} AS feature,
                       {DIMENSION_SQL["model"]} AS model, {DIMENSION_SQL["tenant"]} AS tenant,
                       cost_usd
                FROM rollup_hourly
                WHERE hour >= (SELECT min(start) FROM spend_windows)
                  AND hour < (SELECT max("end") FROM spend_windows)
            )
            SELECT w.idx, coalesce(sum(r.cost_usd), 0)
            FROM spend_windows w
            LEFT JOIN rows r
                ON r.hour >= w.start AND r.hour < w."end"
               AND (w.feature IS NULL OR r.feature = w.feature)
               AND (w.model IS NULL OR r.model = w.model)
               AND (w.tenant IS NULL OR r.tenant = w.tenant)
            GROUP BY w.idx
            ORDER BY w.idx
            """
        ).fetchall()
    return [Decimal(spent) for _, spent in rows]
