"""Spend series: hourly spend per feature, model, tenant, feature x model and in total.

One DuckDB aggregation over `rollup_hourly` builds every series at once (GROUPING SETS over
integer ids of the window's leaves, its distinct spelled feature, model and tenant), then a
rectangular grid is read from it, all series at once (`hourly_grid`) or a chunk of series at
a time (`grids`, for the detector state's rebuild at 10,000 series): the input of
`warehouse.detection.baseline.score`, one row per (series, hour) over the same hours for every
series, the spend as a float (for the statistics only) and the calls (for the cost per call,
`warehouse.detection.per_call`), null before the series' first spend in the window and 0 in
a quiet hour after it. Series ids follow the order of their keys.

A series is named by its dimensions, spelled the same on every run:
`feature=search`, `model=openai/gpt-4o`, `tenant=acme`,
`feature=search|model=openai/gpt-4o`, `total`. A call without a feature or tenant counts
under `(none)`; a model is `provider/model` (just the model when the provider is unknown).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from warehouse.store.staging import registered

NONE = "(none)"
HOUR = dt.timedelta(hours=1)
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


# Each dimension's integer id of a leaf (a distinct spelled feature, model and tenant), and
# its bit in grouping(f, m, t): a series' code packs its dimension set and ids, so the
# aggregation names its series by integers (grouping by strings cost several times more).
DIMENSION_IDS = {"feature": ("f", 4), "model": ("m", 2), "tenant": ("t", 1)}

LEAVES = f"""
CREATE OR REPLACE TEMP TABLE spend_leaves AS
SELECT *, dense_rank() OVER (ORDER BY d_feature)::BIGINT AS f,
       dense_rank() OVER (ORDER BY d_model)::BIGINT AS m,
       dense_rank() OVER (ORDER BY d_tenant)::BIGINT AS t
FROM (
    SELECT feature, provider, model, tenant_id, {DIMENSION_SQL["feature"]} AS d_feature,
           {DIMENSION_SQL["model"]} AS d_model, {DIMENSION_SQL["tenant"]} AS d_tenant
    FROM (SELECT DISTINCT feature, provider, model, tenant_id FROM rollup_hourly
          WHERE hour >= $start AND hour < $end)
)
"""
CODE = "((({set} * $nf + {f}) * $nm + {m}) * $nt + {t})"
# The aggregation's code of a row (its dimension set from grouping()) and its sets.
ROW_CODE = CODE.format(
    set="grouping(f, m, t)", f="coalesce(f, 0)", m="coalesce(m, 0)", t="coalesce(t, 0)"
)
GROUPING_SETS = ", ".join(
    "(" + ", ".join(("hour", *(DIMENSION_IDS[d][0] for d in dims))) + ")" for dims in DIMENSION_SETS
)
# A week of hours at a time: the aggregation's hash table holds a week's groups, not 50 days'.
SLICE_HOURS = 168
SPEND = f"""
INSERT INTO spend_hourly
SELECT {ROW_CODE} AS code, hour,
       sum(cost_usd::DOUBLE) AS cost,  -- statistics only: float is fine, and fast
       sum(calls)::DOUBLE AS calls
FROM rollup_hourly r
JOIN spend_leaves l
  ON r.feature IS NOT DISTINCT FROM l.feature AND r.provider = l.provider
 AND r.model = l.model AND r.tenant_id IS NOT DISTINCT FROM l.tenant_id
WHERE r.hour >= $start AND r.hour < $end
GROUP BY GROUPING SETS ({GROUPING_SETS})
"""
GRID = """
WITH chunk AS (SELECT series, code, first FROM spend_keys WHERE series >= $lo AND series < $hi)
SELECT k.series, h.hour,
       CASE WHEN h.hour >= k.first THEN coalesce(v.cost, 0) END AS actual,
       CASE WHEN h.hour >= k.first THEN coalesce(v.calls, 0) END AS calls
FROM chunk k
CROSS JOIN (SELECT unnest(generate_series($start, $last, INTERVAL 1 HOUR)) AS hour) h
LEFT JOIN (SELECT * FROM spend_hourly SEMI JOIN chunk USING (code)) v
       ON v.code = k.code AND v.hour = h.hour
ORDER BY k.series, h.hour
"""


def _set_keys(dims: tuple[str, ...]) -> str:
    """The series of one dimension set, from the leaves: code, key and dimensions."""
    bits = sum(bit for name, (_, bit) in DIMENSION_IDS.items() if name not in dims)
    code = CODE.format(
        set=bits, **{i: (i if name in dims else "0") for name, (i, _) in DIMENSION_IDS.items()}
    )
    key = " || '|' || ".join(f"'{d}=' || d_{d}" for d in dims) or "'total'"
    dimensions = ", ".join(
        f"{'d_' + name if name in dims else 'NULL'} AS {name}" for name in DIMENSION_IDS
    )
    return f"SELECT DISTINCT {code} AS code, {key} AS key, {dimensions} FROM spend_leaves"


KEYS = f"""
CREATE OR REPLACE TEMP TABLE spend_keys AS
SELECT (row_number() OVER (ORDER BY key) - 1)::INTEGER AS series, k.*, s.first
FROM ({" UNION ALL ".join(_set_keys(dims) for dims in DIMENSION_SETS)}) k
JOIN (SELECT code, min(hour) AS first FROM spend_hourly GROUP BY code) s USING (code)
"""


@contextmanager
def spend_series(
    cursor: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime
) -> Iterator[int]:
    """Every series' hourly spend over the hours [start, end) (naive UTC, whole hours),
    aggregated once into temporary tables for `grid` to read within the block; yields the
    number of series (ids 0 to n - 1, in the order of their keys)."""
    params = {"start": start, "end": end}
    try:
        cursor.execute(LEAVES, params)
        (nf, nm, nt) = cursor.execute(
            "SELECT coalesce(max(f), 0) + 1, coalesce(max(m), 0) + 1, coalesce(max(t), 0) + 1 "
            "FROM spend_leaves"
        ).fetchone() or (1, 1, 1)
        cursor.execute(
            "CREATE OR REPLACE TEMP TABLE spend_hourly (code BIGINT, hour TIMESTAMP, "
            "cost DOUBLE, calls DOUBLE)"
        )
        ids = {"nf": nf, "nm": nm, "nt": nt}
        sliced = start
        while sliced < end:
            upto = min(sliced + SLICE_HOURS * HOUR, end)
            cursor.execute(SPEND, {"start": sliced, "end": upto, **ids})
            sliced = upto
        cursor.execute(KEYS, ids)
        (count,) = cursor.execute("SELECT count(*) FROM spend_keys").fetchone() or (0,)
        yield int(count)
    finally:
        cursor.execute("DROP TABLE IF EXISTS spend_keys")
        cursor.execute("DROP TABLE IF EXISTS spend_hourly")
        cursor.execute("DROP TABLE IF EXISTS spend_leaves")


def grid(
    cursor: duckdb.DuckDBPyConnection,
    start: dt.datetime,
    end: dt.datetime,
    series: range,
) -> SeriesGrid:
    """The grid of the `series` ids (within a `spend_series` block over [start, end)):
    one row per series and hour, sorted by series then hour, rectangular."""
    bounds = {"lo": series.start, "hi": series.stop}
    keys = cursor.execute(
        "SELECT series, key, feature, model, tenant FROM spend_keys "
        "WHERE series >= $lo AND series < $hi ORDER BY series",
        bounds,
    ).pl()
    rows = cursor.execute(GRID, {**bounds, "start": start, "last": end - HOUR}).pl()
    return SeriesGrid(rows, keys)


def hourly_grid(
    cursor: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime
) -> SeriesGrid:
    """Every series' hourly spend over the hours [start, end) (naive UTC, whole hours)."""
    with spend_series(cursor, start, end) as count:
        return grid(cursor, start, end, range(count))


def grids(
    cursor: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime, per_chunk: int
) -> Iterator[SeriesGrid]:
    """`hourly_grid`, `per_chunk` series at a time (the memory of one chunk's grid)."""
    with spend_series(cursor, start, end) as count:
        for first in range(0, count, per_chunk):
            yield grid(cursor, start, end, range(first, min(first + per_chunk, count)))


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
