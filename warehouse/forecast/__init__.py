"""The month-end forecast, one for the whole product: `model` (the weekday-aware run rate
and its prediction interval, pure arithmetic on daily costs) and `spend` (the daily costs
of a feature, tenant or environment read from `rollup_hourly`, through the tenant scope).
The overview, the budgets, the API (`/api/v1/forecast`) and the CLI all show this figure.
"""

from warehouse.forecast.model import LEVEL, Forecast, month_end_forecast
from warehouse.forecast.spend import FORECAST_FILTERS, HISTORY_DAYS, spend_forecast

__all__ = [
    "FORECAST_FILTERS",
    "HISTORY_DAYS",
    "LEVEL",
    "Forecast",
    "month_end_forecast",
    "spend_forecast",
]
