"""The daily costs a month-end forecast is made from, read from `rollup_hourly`.

The month so far runs to the end of the hour under way (the rollups hold the hour under
way); the history is the last HISTORY_DAYS complete UTC days. A day with no spend after the
first day with some counts as $0 (a quiet day is evidence); days before it, when the data
begins, do not count. Unpriced calls add nothing: the forecast is of the priced calls.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import duckdb

from warehouse.core.clock import naive_utc
from warehouse.core.errors import InvalidRequest
from warehouse.forecast.model import Forecast, month_end_forecast
from warehouse.store.scope import ALL_TENANTS, TenantScope

HISTORY_DAYS = 14  # the complete days the weekday rates and the interval come from
# The filters a forecast takes, and their rollup columns.
FORECAST_FILTERS = {
    "feature": "feature",
    "tenant": "tenant_id",
    "environment": "environment",
    "model": "model",
}


def _conditions(filters: Mapping[str, str | None]) -> tuple[str, dict[str, Any]]:
    unknown = sorted(set(filters) - set(FORECAST_FILTERS))
    if unknown:
        raise InvalidRequest(f"cannot forecast by {', '.join(unknown)}")
    given = {name: value for name, value in filters.items() if value is not None}
    where = " AND ".join(f"{FORECAST_FILTERS[name]} = $f_{name}" for name in sorted(given))
    return where or "TRUE", {f"f_{name}": value for name, value in given.items()}


def daily_costs(
    cursor: duckdb.DuckDBPyConnection,
    start: dt.datetime,
    end: dt.datetime,
    filters: Mapping[str, str | None],
    scope: TenantScope = ALL_TENANTS,
) -> dict[dt.date, Decimal]:
    """The priced cost of each UTC day with spend in [start, end) that `filters` select."""
    condition, params = _conditions(filters)
    rows = cursor.execute(
        "SELECT CAST(hour AS DATE) AS day, sum(cost_usd) FROM rollup_hourly "
        f"WHERE hour >= $start AND hour < $end AND {condition} "
        f"AND {scope.where('tenant_id')} GROUP BY ALL",
        {"start": naive_utc(start), "end": naive_utc(end)} | params | scope.params(),
    ).fetchall()
    return {day: Decimal(cost or 0) for day, cost in rows}


def spend_forecast(
    cursor: duckdb.DuckDBPyConnection,
    now: dt.datetime,
    filters: Mapping[str, str | None] | None = None,
    scope: TenantScope = ALL_TENANTS,
) -> tuple[Decimal, Forecast | None]:
    """The month so far and the month-end forecast (None without a complete day of history)
    of the spend `filters` select (none: all of it; or a feature, tenant, environment,
    model), at `now` (aware, or naive UTC)."""
    now = naive_utc(now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    first = midnight - dt.timedelta(days=HISTORY_DAYS)
    month = midnight.replace(day=1)
    end = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    days = daily_costs(cursor, min(first, month), end, filters or {}, scope)
    month_to_date = sum((c for d, c in days.items() if d >= month.date()), Decimal(0))
    history = {d: c for d, c in days.items() if first.date() <= d < midnight.date()}
    if history:
        day = min(history)
        while day < midnight.date():
            history.setdefault(day, Decimal(0))
            day += dt.timedelta(days=1)
    return month_to_date, month_end_forecast(month_to_date, history, now)
