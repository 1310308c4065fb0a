"""Unit economics per feature: cost per session, per value unit, per 1,000 requests and the
success rate, as a table to paste into a deck, and how cost per value unit moves."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import plotly.express as px
import streamlit as st

from dashboard.api import ApiClient
from dashboard.charts import cost_axis, time_axis
from dashboard.filters import Filters
from dashboard.latency import milliseconds
from dashboard.moments import moment
from dashboard.money import chart_amount, lower_bound, total, usd
from dashboard.page import Page, PageContext
from dashboard.states import no_data

TREND_BUCKETS = 8
# The key figures first (a wide table scrolls: the columns on the right are off-screen).
COLUMNS = {
    "feature": "Feature",
    "cost_per_value_unit_usd": "Cost / value unit",
    "cost_per_session_usd": "Cost / session",
    "success_rate": "Success rate",
    "cost_usd": "Cost",
    "value_units": "Value units",
    "sessions": "Sessions",
    "value_unit": "Value unit",
    "cost_per_successful_session_usd": "Cost / successful session",
    "cost_per_1k_requests_usd": "Cost / 1k requests",
    "latency_p50_ms": "p50 latency",
    "latency_p95_ms": "p95 latency",
    "ttft_p50_ms": "p50 time to first token",
    "ttft_p95_ms": "p95 time to first token",
    "calls": "Requests",
    "unpriced_calls": "Unpriced requests",
}


def render(context: PageContext) -> None:
    api, filters = context.api, context.filters
    st.title("Unit economics")
    st.caption(
        f"{filters.label}, {f'tenant {filters.tenant}' if filters.tenant else 'all tenants'}"
        " (UTC). Cost is every call of the feature, failed and abandoned "
        "sessions included (latency is over the successful calls; time to first token over "
        "the streamed calls whose instrumentation measured it); a value unit is the outcome "
        "that counts one unit of value for the feature (value_units.toml or "
        "SPENDSCOPE_VALUE_UNITS), including those reported late."
    )
    if filters.environment is not None:
        st.warning(
            "The API answers unit economics for every environment: the environment filter "
            "does not apply on this page (the tenant filter does)."
        )
    features = api.unit_economics(filters.start, filters.end, filters.tenant)["features"]
    features = [row for row in features if row["calls"] or row["sessions"]]
    if not features:
        no_data("No feature had a model call in this window yet.")
        return

    table = [_display(row) for row in sorted(features, key=lambda r: -chart_amount(r["cost_usd"]))]
    st.dataframe(
        table,
        hide_index=True,
        column_config={"Feature": st.column_config.TextColumn(pinned=True)},
    )
    if any(row["unpriced_calls"] for row in features):
        st.caption(
            "Unpriced requests (their model has no price) are not in the cost: a feature "
            'shows "unpriced" when none of its requests is priced; otherwise its cost is '
            "the priced ones' and its cost per session and per value unit are lower bounds "
            "(≥), while cost per 1k requests is over the priced requests only."
        )
    st.download_button(
        "Download CSV",
        _csv(features),
        file_name=f"unit-economics-{filters.start:%Y%m%d}-{filters.end:%Y%m%d}.csv",
        mime="text/csv",
        help="Exact amounts, as the API gives them.",
    )
    if any(row["value_unit"] is None for row in features):
        st.info(
            "Features without a value unit show n/a per value unit: set one in "
            "`value_units.toml` in the data directory, or with "
            "`PUT /api/v1/value-units/config/{feature}` (no restart), or with "
            "SPENDSCOPE_VALUE_UNITS; see docs/value-units.md."
        )

    st.subheader("Cost per value unit over time")
    step, trend = _trend(api, filters)
    if trend:
        figure = px.line(
            trend,
            x="middle",
            y="cost_per_value_unit",
            color="feature",
            markers=True,
            hover_data={"middle": False, "bucket": True},
            labels={"cost_per_value_unit": "cost per value unit (USD)"},
        )
        title = f"buckets of {_duration(step)}, each point in the middle of its bucket"
        st.plotly_chart(cost_axis(time_axis(figure, filters.start, filters.end, title=title)))
    else:
        st.caption("No value units in this window yet.")


def _display(row: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for key, title in COLUMNS.items():
        value = row[key]
        if key == "cost_usd":
            value = total(row)
        elif key == "cost_per_1k_requests_usd":
            value = "unpriced" if row["cost_usd"] is None else usd(value)
        elif key.endswith("_usd"):
            value = lower_bound(value, row)
        elif key == "success_rate":
            value = "n/a" if value is None else f"{value:.1%}"
        elif key == "value_unit":
            value = value or "(not set)"
        elif key.endswith("_ms"):
            value = milliseconds(value)
        shown[title] = value
    return shown


def _csv(features: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(features)
    return out.getvalue()


def _trend(api: ApiClient, filters: Filters) -> tuple[dt.timedelta, list[dict[str, Any]]]:
    """Cost per value unit per feature in up to TREND_BUCKETS equal slices of the window
    (whole days when the window is long enough): the slice and the points."""
    span = filters.end - filters.start
    step = span / TREND_BUCKETS
    if filters.daily:
        step = dt.timedelta(days=max(step.days, 1))
    points: list[dict[str, Any]] = []
    start = filters.end - step * TREND_BUCKETS if step * TREND_BUCKETS <= span else filters.start
    while start < filters.end:
        end = min(start + step, filters.end)
        for row in api.unit_economics(start, end, filters.tenant)["features"]:
            if row["cost_per_value_unit_usd"] is not None:
                points.append(
                    {
                        "middle": start + (end - start) / 2,
                        "bucket": f"{moment(start)} to {moment(end)}",
                        "feature": row["feature"],
                        "cost_per_value_unit": float(row["cost_per_value_unit_usd"]),
                    }
                )
        start = end
    return step, points


def _duration(step: dt.timedelta) -> str:
    if step % dt.timedelta(days=1) == dt.timedelta(0):
        return f"{step.days} day{'s' if step.days != 1 else ''}"
    hours = step / dt.timedelta(hours=1)
    return f"{hours:g} hours"


PAGE = Page("Unit economics", ":material/balance:", "unit-economics", render)
