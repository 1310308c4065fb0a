"""Projections: the month-end forecast with its interval, and spend at launch, 10x and 100x
the traffic from each feature's measured drivers (`/api/v1/projections`): where the money
goes as traffic grows, a change of model mix, and when the self-hosted GPUs break even."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import plotly.express as px
import streamlit as st

from dashboard.api import ApiClient, ApiError
from dashboard.forecast import HELP, interval_text, spend_forecast
from dashboard.money import chart_amount, usd
from dashboard.page import Page, PageContext
from dashboard.states import no_data
from dashboard.views.gpu import REFERENCES

MULTIPLIERS = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)
NO_SWAP = "(no change)"


def render(context: PageContext) -> None:
    api, filters = context.api, context.filters
    dims = filters.dimensions()
    st.title("Projections")
    st.caption(
        "From the last 7 complete days' drivers: sessions (or requests) per day x calls per "
        "session x cost per call, at today's model mix and cache share. Filters: "
        + (", ".join(f"{k} {v}" for k, v in dims.items() if v) or "all environments and tenants")
        + "."
    )
    _forecast(api, dims)
    left, right = st.columns(2)
    multiplier = left.select_slider(
        "Traffic, times today's", MULTIPLIERS, value=10, key="multiplier"
    )
    reference = right.selectbox(
        "Self-hosted tokens priced at",
        REFERENCES,
        key="projection_reference",
        help="The API model the self-hosted deployments are compared with (the GPU page's "
        "break-even).",
    )
    today = api.projections(str(multiplier), filters=dims, reference=reference)  # today's mix
    if not today["features"]:
        no_data("No model calls in the last 7 complete days.")
        return
    swaps = _swap_controls(today)
    found = today
    if swaps:
        try:
            found = api.projections(str(multiplier), swaps, dims, reference)
        except ApiError as exc:
            st.error(f"**That mix change cannot be priced.** {exc}")
    _levels(found)
    _where_it_goes(found)
    _drivers(found)
    _self_hosted(found)


def _forecast(api: ApiClient, dims: dict[str, str | None]) -> None:
    forecast = spend_forecast(api, dims)
    st.metric("Month-end forecast", usd(forecast["forecast_usd"]), help=HELP)
    st.caption(interval_text(forecast))


def _swap_controls(today: dict[str, Any]) -> list[str]:
    """A share of one model's calls moved to another (priced by the API with the price
    book at each feature's tokens per call); [] when none is chosen."""
    models = sorted({m["model"] for f in today["features"] for m in f["mix"]})
    with st.expander("Change the model mix"):
        cols = st.columns(3)
        source = cols[0].selectbox("Move calls of", [NO_SWAP, *models], key="swap_from")
        target = cols[1].text_input(
            "to the model", value="gpt-4o-mini", key="swap_to", help="A model of the same "
            "provider, or provider/model; priced with the price book."
        )  # fmt: skip
        share = cols[2].slider("share of its calls (%)", 1, 100, 50, key="swap_share")
    if source == NO_SWAP or not target.strip():
        return []
    return [f"{source}:{target.strip()}:{Decimal(share) / 100}"]


def _levels(found: dict[str, Any]) -> None:
    cols = st.columns(len(found["levels"]))
    for column, level in zip(cols, found["levels"], strict=True):
        column.metric(
            f"{level['multiplier']:g}x, a month",
            usd(level["usd_per_month"]),
            help="30 days at that traffic: sessions x calls x cost per call, self-hosted "
            "GPUs fixed until full.",
        )
        column.caption(f"Most of it: {level['dominant_feature']}")
    if found["swaps"]:
        st.caption(f"With the mix change: {', '.join(found['swaps'])}.")


def _where_it_goes(found: dict[str, Any]) -> None:
    st.subheader("Where the money goes as traffic grows")
    rows = [
        {
            "traffic": f"{level['multiplier']:g}x",
            "feature": feature["feature"],
            "share": (level["share"] or 0) * 100,
            "per day": chart_amount(level["usd_per_day"]),
        }
        for feature in found["features"]
        for level in feature["levels"]
    ]
    figure = px.bar(
        rows,
        x="traffic",
        y="share",
        color="feature",
        hover_data=["per day"],
        labels={"share": "share of the spend (%)"},
    )
    st.plotly_chart(figure)


def _drivers(found: dict[str, Any]) -> None:
    st.subheader("Drivers per feature")
    multiplier = found["multiplier"]
    st.dataframe(
        [
            {
                "feature": f["feature"],
                "per day": f"{f['units_per_day']:,.1f} {f['unit']}s",
                "calls each": _number(f["calls_per_unit"]),
                "input tokens / call": _number(f["tokens_per_call"]["input"]),
                "output tokens / call": _number(f["tokens_per_call"]["output"]),
                "cached input": _percent(f["cache_share"]),
                "cost / call": usd(f["cost_per_call_usd"]),
                "mix": ", ".join(
                    f"{m['model']} {m['calls_share'] * 100:.0f}%" for m in f["mix"][:3]
                ),
                "today / day": usd(f["levels"][0]["usd_per_day"]),
                f"{multiplier:g}x / day": usd(_at(f, multiplier)),
            }
            for f in found["features"]
        ],
        hide_index=True,
    )


def _self_hosted(found: dict[str, Any]) -> None:
    st.subheader("Self-hosted GPUs against the API")
    deployments = found["self_hosted"]
    if deployments is None:
        st.info("The GPUs are shared by every tenant: their break-even needs an unscoped token.")
        return
    if not deployments:
        st.info("No self-hosted GPU metrics in the drivers' window (see the GPU page).")
        return
    for d in deployments:
        even = d["break_even_multiplier"]
        st.markdown(
            f"**{d['deployment'] or '(unnamed)'}**: {usd(d['gpu_usd_per_day'])} a day of GPUs "
            f"for tokens that cost {usd(d['reference_usd_per_day'])} a day at {d['reference']}; "
            + (
                f"self-hosting breaks even at **{even:g}x** today's traffic."
                if even is not None
                else "even full GPUs cost more than the API: it **never breaks even**."
            )
        )
    st.dataframe(
        [
            {
                "deployment": d["deployment"],
                "GPU / day": usd(d["gpu_usd_per_day"]),
                "API / day": usd(d["reference_usd_per_day"]),
                "busy": _percent(d["utilization"]),
                "full at": _number(d["full_at_multiplier"]) + "x",
                "break-even at": _times(d["break_even_multiplier"]),
                f"GPU at {found['multiplier']:g}x": usd(d["gpu_usd_per_day_at_multiplier"]),
                f"API at {found['multiplier']:g}x": usd(d["api_usd_per_day_at_multiplier"]),
                "cheaper": "self-hosted" if d["self_hosting_cheaper"] else "the API",
            }
            for d in deployments
        ],
        hide_index=True,
    )


def _at(feature: dict[str, Any], multiplier: float) -> str | None:
    return next(
        (lv["usd_per_day"] for lv in feature["levels"] if lv["multiplier"] == multiplier), None
    )


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _times(value: float | None) -> str:
    return "never" if value is None else f"{value:,.2f}x"


PAGE = Page("Projections", ":material/trending_up:", "projections", render)
