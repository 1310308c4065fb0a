"""Month-end forecast: the month so far, plus a weekday-aware run rate for the rest.

Spend has a weekly rhythm (weekends are quiet), so each remaining day is forecast by the
average of the same weekday over the recent complete days, and the rest of today by the
unspent share of today's weekday rate. Exact (Decimal) throughout.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal


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
