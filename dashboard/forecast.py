"""The month-end forecast as the pages show it: the API's one forecast (`/api/v1/forecast`,
made in `warehouse.forecast`), the figure the budgets and the CLI show for the same spend.

The dashboard computes nothing here: it formats the API's figure and its 80 % prediction
interval, and says how the forecast is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dashboard.api import ApiClient
from dashboard.money import priced_cost, usd

HELP = (
    "Month to date plus, for each day left, the same weekday's average spend over the last "
    "14 complete days, at the level of the last 7 (of the priced calls). The monthly budgets "
    "show the same figure for their spend. 80% interval: backtested (docs/forecast.md)."
)


def spend_forecast(
    api: ApiClient, filters: Mapping[str, str | None], at: str | None = None
) -> dict[str, Any]:
    """The API's forecast of the spend `filters` select (`/forecast` filters), made at `at`
    (an API timestamp, such as `/budgets`' `at`; default now)."""
    given = {name: value for name, value in filters.items() if value is not None}
    return api.forecast(given | ({"at": at} if at else {}))


def forecast_figure(forecast: Mapping[str, Any], month: Mapping[str, Any]) -> str:
    """The forecast as a metric shows it: the month's unpriced calls said, n/a without a
    complete day of history."""
    if forecast["forecast_usd"] is None:
        return "n/a"
    return priced_cost(forecast["forecast_usd"], month["calls"], month["unpriced_calls"])


def interval_text(forecast: Mapping[str, Any]) -> str:
    """`80% interval: $1,234.00 to $1,456.00` (or why there is no forecast yet)."""
    if forecast["forecast_usd"] is None:
        return "No forecast yet: it needs a complete day of history."
    return (
        f"80% interval: {usd(forecast['low_usd'])} to {usd(forecast['high_usd'])}, from "
        f"{forecast['history_days']} complete day(s)."
    )
