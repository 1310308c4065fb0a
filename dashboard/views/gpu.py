"""GPU: how busy the self-hosted GPUs are, the idle GPU-hours and what they cost, tokens per
GPU-second, the cost per million tokens against a reference API model (break-even), and
each deployment's GPU cost spread over the features or tenants whose calls it served."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import plotly.express as px
import streamlit as st

from dashboard.api import ApiClient, ApiForbidden
from dashboard.breakeven import break_even
from dashboard.charts import cost_axis, time_axis
from dashboard.filters import Filters
from dashboard.money import dollars, share, usd
from dashboard.page import Page, PageContext
from dashboard.states import filters_do_not_apply, not_allowed

# API models to weigh self-hosting against (any `provider/model` the price book knows).
REFERENCES = ("openai/gpt-4o-mini", "openai/gpt-4.1-mini", "openai/gpt-4o")
ALLOCATE_TO = {"Feature": "feature", "Tenant": "tenant"}
NO_GPU_DATA = (
    "Export your GPUs' DCGM (or `hw.gpu`) metrics and your vLLM servers' metrics over OTLP to "
    "spendscope, and give the GPUs a price (`gpu_prices` in `prices.toml`, or "
    "`POST /api/v1/gpu/prices`); see docs/gpu.md. Figures are hourly."
)


def render(context: PageContext) -> None:
    api, filters = context.api, context.filters
    st.title("GPU")
    st.caption(f"{filters.label} (UTC), whole hours; self-hosted deployments only.")
    filters_do_not_apply(filters, "GPUs are shared (allocate their cost by tenant below)")
    reference = st.selectbox(
        "Reference API model",
        REFERENCES,
        key="reference",
        help="What the same prompt and generation tokens would cost at this model's API "
        "prices: the break-even view.",
    )
    grain = filters.grain
    try:
        efficiency = api.gpu_efficiency(
            filters.start, filters.end, grain=grain, reference=reference
        )
    except ApiForbidden as exc:
        not_allowed(exc, "GPU efficiency covers the whole fleet.")
        efficiency = None
    if efficiency is not None:
        if not efficiency["rows"]:
            st.info(f"**No GPU metrics in this window.** {NO_GPU_DATA}")
            return
        _efficiency(efficiency, filters, reference)
    _allocation(api, filters)


def _efficiency(efficiency: dict[str, Any], filters: Filters, reference: str) -> None:
    totals, grain = efficiency["totals"], filters.grain
    cols = st.columns(4)
    cols[0].metric("Utilization", share(totals["utilization"]), help="Busy / GPU-hours.")
    cols[1].metric(
        "Idle GPU-hours",
        f"{Decimal(totals['idle_gpu_hours']):,.1f}",
        help=f"Of {Decimal(totals['gpu_hours']):,.1f} GPU-hours on {totals['gpus']} GPUs.",
    )
    cols[2].metric("Idle GPU cost", usd(totals["idle_cost_usd"]), help="Paid, not used.")
    cols[3].metric("GPU cost", usd(totals["cost_usd"]))
    cols = st.columns(4)
    cols[0].metric("Tokens / GPU-second", _rate(totals["tokens_per_gpu_second"]))
    cols[1].metric("Cost / million tokens", usd(totals["cost_per_million_tokens_usd"]))
    even = break_even(totals)
    cols[2].metric(
        f"{reference} / million tokens",
        usd(even.reference_per_mtok if even else None),
        help="The reference model's API prices for the same prompt / generation mix.",
    )
    cols[3].metric(
        "Break-even tokens / GPU-second",
        _rate(even.tokens_per_gpu_second if even else None),
        help="The throughput at which the GPUs would cost what the reference API charges.",
    )
    if Decimal(totals["unpriced_gpu_hours"]):
        st.warning(
            f"{Decimal(totals['unpriced_gpu_hours']):,.1f} GPU-hours have **no GPU price** and "
            "are not in the cost: add one (docs/gpu.md)."
        )
    if even is not None:
        target = share(even.utilization) if even.utilization is not None else "n/a"
        st.caption(
            f"Self-hosting cost {even.ratio:.2f}x what {reference} would have charged for the "
            f"same tokens: {saving_text(totals['savings_vs_reference_usd'])}. "
            f"Both cost the same at about {target} utilization, if throughput grows with it."
        )

    frame = _periods(efficiency["rows"])
    left, right = st.columns(2)
    with left:
        st.subheader(f"Utilization by {grain}")
        figure = px.line(
            frame, x="period", y="utilization", color="deployment", markers=True
        ).update_yaxes(tickformat=".2~%", rangemode="tozero")
        st.plotly_chart(time_axis(figure, filters.start, filters.end, grain, grain))
    with right:
        st.subheader(f"GPU cost by {grain}: busy and idle")
        figure = px.bar(
            frame,
            x="period",
            y=["busy_usd", "idle_usd"],
            labels={"value": "cost (USD)", "variable": ""},
        )
        st.plotly_chart(cost_axis(time_axis(figure, filters.start, filters.end, grain, grain)))
    st.subheader("By deployment")
    st.dataframe(_deployments(efficiency["rows"]), hide_index=True)


def _periods(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for plotly (floats for the scale only; the tables keep the exact amounts)."""
    return [
        {
            "period": row["period"],
            "deployment": row["deployment"] or "(none)",
            "utilization": row["utilization"],
            "busy_usd": float(Decimal(row["cost_usd"]) - Decimal(row["idle_cost_usd"])),
            "idle_usd": float(row["idle_cost_usd"]),
        }
        for row in rows
    ]


def _deployments(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The window's figures per deployment: the hourly or daily rows summed exactly."""
    summed: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "hours": Decimal(0),
            "idle": Decimal(0),
            "cost": Decimal(0),
            "idle_cost": Decimal(0),
        }
    )
    for row in rows:
        entry = summed[row["deployment"] or "(none)"]
        entry["hours"] += Decimal(row["gpu_hours"])
        entry["idle"] += Decimal(row["idle_gpu_hours"])
        entry["cost"] += Decimal(row["cost_usd"])
        entry["idle_cost"] += Decimal(row["idle_cost_usd"])
    return [
        {
            "deployment": name,
            "GPU-hours": f"{entry['hours']:,.2f}",
            "idle GPU-hours": f"{entry['idle']:,.2f}",
            "utilization": share(float(1 - entry["idle"] / entry["hours"]))
            if entry["hours"]
            else "n/a",
            "GPU cost": usd(entry["cost"]),
            "idle cost": usd(entry["idle_cost"]),
        }
        for name, entry in sorted(summed.items(), key=lambda item: -item[1]["cost"])
    ]


def _allocation(api: ApiClient, filters: Filters) -> None:
    st.subheader("GPU cost allocated to the calls it served")
    label = st.radio("Allocate to", list(ALLOCATE_TO), horizontal=True, key="allocate_to")
    dimension = ALLOCATE_TO[label]
    allocation = api.gpu_allocation(filters.start, filters.end, group_by=(dimension,))
    if allocation["deployments"] is None:
        st.caption("This token sees its own tenant's calls only: no fleet totals.")
    else:
        st.dataframe(
            [
                {
                    "deployment": row["deployment"] or "(none)",
                    "GPU cost": usd(row["cost_usd"]),
                    "allocated": usd(row["allocated_usd"]),
                    "of it idle": usd(row["allocated_idle_usd"]),
                    "unallocated": usd(row["unallocated_usd"]),
                    "calls": row["calls"],
                }
                for row in allocation["deployments"]
            ],
            hide_index=True,
        )
    rows = allocation["rows"]
    if not rows:
        st.caption(
            "No model call was matched to a GPU deployment in this window (docs/gpu.md: how "
            "calls are matched by server address, model or deployment attribute)."
        )
        return
    frame = [
        {
            dimension: row["dimensions"][dimension] or "(none)",
            "deployment": row["dimensions"]["deployment"] or "(none)",
            "busy_usd": float(row["busy_cost_usd"]),
            "idle_usd": float(row["idle_cost_usd"]),
            "cost": Decimal(row["cost_usd"]),
            "idle": Decimal(row["idle_cost_usd"]),
            "calls": row["calls"],
        }
        for row in sorted(rows, key=lambda r: -Decimal(r["cost_usd"]))
    ]
    figure = px.bar(
        frame,
        x=dimension,
        y=["busy_usd", "idle_usd"],
        hover_data=["deployment"],
        labels={"value": "allocated GPU cost (USD)", "variable": ""},
    )
    st.plotly_chart(cost_axis(figure))
    st.dataframe(
        [
            {
                dimension: row[dimension],
                "deployment": row["deployment"],
                "allocated": usd(row["cost"]),
                "of it idle": usd(row["idle"]),
                "calls": row["calls"],
            }
            for row in frame
        ],
        hide_index=True,
    )


def saving_text(saving: str | None) -> str:
    """What self-hosting saved against the reference, in words: a negative saving is a
    cost ("costs $475.83 more"), never "savings $-475.83"."""
    amount = dollars(saving)
    if amount is None:
        return "no saving to compare"
    if amount < 0:
        return f"self-hosting costs {usd(-amount)} more"
    if amount == 0:
        return "the same cost"
    return f"self-hosting saves {usd(amount)}"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


PAGE = Page("GPU", ":material/memory:", "gpu", render)
