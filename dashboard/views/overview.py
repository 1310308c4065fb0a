"""Overview: spend today and this month, the month-end forecast, the trend, where the money
goes (by feature and by model), the anomalies open now, the budgets, and the window as a
FOCUS file to download (`dashboard.focus_export`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import plotly.express as px
import streamlit as st

from dashboard import focus_export
from dashboard.api import ApiClient
from dashboard.charts import cost_axis, time_axis
from dashboard.filters import Filters, next_hour
from dashboard.findings import NO_BUDGETS, budget_row, finding_row
from dashboard.forecast import HELP, forecast_figure, interval_text, spend_forecast
from dashboard.money import chart_amount, dollars, priced_cost, total
from dashboard.page import Page, PageContext
from dashboard.states import no_data, unpriced_warning

OPEN_WINDOW = dt.timedelta(hours=24)  # findings still firing were found within it


def render(context: PageContext) -> None:
    api, filters, now = context.api, context.filters, context.now
    dims = filters.dimensions()
    st.title("Overview")
    st.caption(_scope(filters.label, dims))

    end = next_hour(now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = api.costs(midnight, end, filters=dims)["totals"]
    month = api.costs(midnight.replace(day=1), end, filters=dims)["totals"]
    budgets = api.budgets()
    # The forecast as at the budgets' moment: the headline and the monthly total budget
    # are then one computation, to the cent.
    forecast = spend_forecast(api, dims, budgets["at"])
    window = api.costs(filters.start, filters.end, filters=dims)["totals"]

    cols = st.columns(4)
    cols[0].metric("Spend today", total(today), help="Since 00:00 UTC.")
    cols[1].metric("Spend this month", total(month), help="Month to date, UTC.")
    cols[2].metric("Month-end forecast", forecast_figure(forecast, month), help=HELP)
    cols[3].metric(f"Spend, {filters.label.lower()}", total(window))
    cols[2].caption(interval_text(forecast))
    if window["calls"]:
        _where_the_money_goes(api, filters, dims, window)
    else:
        no_data("No model calls in this window yet.")
    _open_anomalies(api, now)
    _budgets(budgets["budgets"])
    focus_export.render(api, filters)


def _where_the_money_goes(
    api: ApiClient, filters: Filters, dims: dict[str, str | None], window: dict[str, Any]
) -> None:
    st.caption(
        f"{window['calls']:,} model calls in the window, {window['error_calls']:,} failed; "
        f"prompt caching saved {total(window, 'cache_savings_usd')}."
    )
    unpriced_warning(window["unpriced_calls"])

    grain = filters.grain
    trend = api.costs(filters.start, filters.end, group_by=("feature",), grain=grain, filters=dims)
    st.subheader("Spend over time, by feature")
    figure = px.bar(
        _frame(trend["rows"], "feature"),
        x="period",
        y="cost_usd",
        color="feature",
        labels={"cost_usd": "cost (USD)"},
    )
    st.plotly_chart(cost_axis(time_axis(figure, filters.start, filters.end, grain, grain)))

    left, right = st.columns(2)
    for column, dimension, title in (
        (left, "feature", "By feature"),
        (right, "model", "By model"),
    ):
        rows = api.costs(filters.start, filters.end, group_by=(dimension,), filters=dims)["rows"]
        frame = sorted(_frame(rows, dimension), key=lambda row: -row["cost_usd"])
        with column:
            st.subheader(title)
            figure = px.bar(
                frame, x="cost_usd", y=dimension, orientation="h", labels={"cost_usd": "cost (USD)"}
            ).update_yaxes(categoryorder="total ascending")
            st.plotly_chart(cost_axis(figure, "x"))
            st.dataframe(
                [
                    {
                        dimension: row[dimension],
                        "cost": priced_cost(row["cost"], row["calls"], row["unpriced_calls"]),
                        "calls": row["calls"],
                    }
                    for row in frame
                ],
                hide_index=True,
            )


def _open_anomalies(api: ApiClient, now: dt.datetime) -> None:
    """The spend anomalies and runaway sessions firing now (budgets have their own table)."""
    st.subheader("Open anomalies")
    found = api.anomalies(now - OPEN_WINDOW, now + dt.timedelta(minutes=1))["anomalies"]
    open_now = [a for a in found if a["firing"] and a["kind"] != "budget"]
    if not open_now:
        st.success(
            "**No open anomalies**: no feature, model or tenant is spending far above its "
            "usual, and no session is running away. *Anomalies and budgets* has the history."
        )
        return
    st.caption(
        "Firing now, across all environments and tenants; *Anomalies and budgets* explains "
        "each one."
    )
    st.dataframe(
        [
            {k: v for k, v in finding_row(a).items() if k not in ("usual", "series")}
            for a in open_now
        ],
        hide_index=True,
    )


def _budgets(budgets: list[dict[str, Any]]) -> None:
    st.subheader("Budgets")
    if not budgets:
        st.info(NO_BUDGETS)
        return
    st.dataframe([budget_row(b) for b in budgets], hide_index=True)
    over = [b["name"] for b in budgets if b["firing"] or b["forecast_overrun"]]
    if over:
        st.warning(f"Over a threshold or forecast to overrun: {', '.join(over)}.")


def _frame(rows: list[dict[str, Any]], dimension: str) -> list[dict[str, Any]]:
    """Rows for plotly: one float per row for the chart's scale (the exact amount is kept
    beside it for tables)."""
    return [
        {
            "period": row.get("period"),
            dimension: row["dimensions"][dimension] or "(none)",
            "cost": dollars(row["cost_usd"]),
            "cost_usd": chart_amount(row["cost_usd"]),
            "calls": row["calls"],
            "unpriced_calls": row["unpriced_calls"],
        }
        for row in rows
    ]


def _scope(label: str, dims: dict[str, str | None]) -> str:
    chosen = [f"{name} {value}" for name, value in dims.items() if value]
    return f"{label}, {', '.join(chosen) if chosen else 'all environments and tenants'} (UTC)."


PAGE = Page("Overview", ":material/monitoring:", "overview", render)
