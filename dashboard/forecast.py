"""Month-end forecast: the month so far, plus a weekday-aware run rate for the rest.

Spend has a weekly rhythm (weekends are quiet), so each remaining day is forecast by the
average of the same weekday over the recent complete days, and the rest of today by the
unspent share of today's weekday rate. Exact (Decimal) throughout.

`spend_forecast` is the overview's one month-end forecast: its headline and the forecast
of each monthly budget in its budgets table are this figure, each for its own spend.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from dashboard.api import ApiClient
from dashboard.filters import next_hour

HISTORY_DAYS = 14  # the complete days the weekday rates come from


def month_end_forecast(
    month_to_date: Decimal,
    recent_days: Mapping[dt.date, Decimal],
    now: dt.datetime,
) -> Decimal | None:
    """The month's forecast total. `recent_days` is the cost of each complete UTC day
    before today (the last two weeks is plenty); None when there is no history to go by."""
    history = {day: cost for day, cost in recent_days.items() if day < now.date()}
    if not history:
        return None
    overall = sum(history.values(), Decimal(0)) / len(history)
    by_weekday: dict[int, list[Decimal]] = {}
    for day, cost in history.items():
        by_weekday.setdefault(day.weekday(), []).append(cost)

    def rate(day: dt.date) -> Decimal:
        same = by_weekday.get(day.weekday())
        return sum(same, Decimal(0)) / len(same) if same else overall

    today = now.date()
    midnight = dt.datetime.combine(today, dt.time(), now.tzinfo)
    left_today = Decimal(1) - Decimal((now - midnight).total_seconds()) / Decimal(86_400)
    forecast = month_to_date + rate(today) * max(left_today, Decimal(0))
    last = calendar.monthrange(today.year, today.month)[1]
    for number in range(today.day + 1, last + 1):
        forecast += rate(today.replace(day=number))
    return forecast


def spend_forecast(
    api: ApiClient, now: dt.datetime, filters: Mapping[str, str | None]
) -> Decimal | None:
    """The month-end forecast of the spend `filters` select (`/costs` filters: none for
    all of it, a feature, a tenant, an environment): the month so far from the API and the
    last HISTORY_DAYS complete days' costs, through `month_end_forecast`."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = api.costs(midnight.replace(day=1), next_hour(now), filters=filters)["totals"]
    recent = api.costs(
        midnight - dt.timedelta(days=HISTORY_DAYS), midnight, grain="day", filters=filters
    )
    days = {
        # An unpriced day (null) adds nothing: the forecast is of the priced calls.
        dt.datetime.fromisoformat(row["period"]).date(): Decimal(row["cost_usd"] or 0)
        for row in recent["rows"]
    }
    return month_end_forecast(Decimal(month["cost_usd"] or 0), days, now)


def budget_forecasts(
    api: ApiClient, budgets: list[dict[str, Any]], now: dt.datetime
) -> list[dict[str, Any]]:
    """The budgets (as `/budgets` gives them) with each monthly one's forecast made by
    `spend_forecast` for its own spend, and its overrun flag to match. A day budget keeps
    the API's day-end forecast. Without a complete day of history there is no forecast
    (None, shown as n/a), as in the headline."""
    result = []
    for budget in budgets:
        if budget["period"] == "month":
            scope = str(budget["scope"])
            filters = {} if scope == "total" else {scope: str(budget["value"])}
            forecast = spend_forecast(api, now, filters)
            budget = {
                **budget,
                "forecast_usd": None if forecast is None else str(forecast),
                "forecast_overrun": forecast is not None
                and forecast > Decimal(str(budget["amount_usd"])),
            }
        result.append(budget)
    return result
