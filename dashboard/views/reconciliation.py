"""Bill reconciliation: what the providers billed against what spendscope priced from the
spans, per provider x model and per day, each gap split into its likely causes (traffic
not instrumented, tokens counted differently, price: an override or tier missing)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from dashboard.api import ApiForbidden
from dashboard.money import dollars, share, usd
from dashboard.page import Page, PageContext
from dashboard.states import filters_do_not_apply, not_allowed

CAUSES = {
    "traffic_not_instrumented": "traffic not instrumented",
    "traffic_not_on_bill": "spans not on the bill",
    "tokens_counted_differently": "tokens counted differently",
    "price_differs": "price differs",
    "unpriced_calls": "unpriced in spendscope",
    "other_charges": "other charges",
    "cost_only": "bill without tokens",
}
NO_BILLS = (
    "Import your providers' bills to check spendscope's costs against them: "
    "`spendscope bills pull openai` / `anthropic` with an admin key, or "
    "`spendscope bills import <file>` for saved reports and FOCUS files from AWS, Azure and "
    "Google Cloud (docs/reconciliation.md)."
)


def render(context: PageContext) -> None:
    filters = context.filters
    st.title("Bill reconciliation")
    start = filters.start.date()
    end = max(filters.end.date(), start + dt.timedelta(days=1))
    st.caption(f"UTC days {start} to {end - dt.timedelta(days=1)} that imported bills cover.")
    filters_do_not_apply(filters, "Bills cover the whole organisation")
    try:
        report = context.api.reconciliation(start, end)
    except ApiForbidden as exc:
        not_allowed(exc, "Bills cover the whole organisation: this token may not read them.")
        return
    if not report["rows"]:
        st.info(f"**No bill covers these days.** {NO_BILLS}")
        return
    _headline(report["models"])
    _models(report["models"])
    _parts_chart(report["rows"])
    _days(report["rows"])
    _imports(context)


def _headline(models: list[dict[str, Any]]) -> None:
    billed = sum((dollars(m["billed_usd"]) or Decimal(0) for m in models), Decimal(0))
    ours = sum((Decimal(m["span_usd"]) for m in models), Decimal(0))
    gap = sum((Decimal(m["gap_usd"]) for m in models), Decimal(0))
    cols = st.columns(4)
    cols[0].metric("Billed", usd(billed))
    cols[1].metric("spendscope", usd(ours), help="The same days, priced from the spans.")
    cols[2].metric(
        "Gap", usd(gap), delta=share(float(gap / billed)) if billed else None, delta_color="off"
    )
    cols[3].metric("Over the alert threshold", sum(1 for m in models if m["firing"]))


def _models(models: list[dict[str, Any]]) -> None:
    st.subheader("By provider and model")
    st.dataframe(
        [
            {
                "provider": m["provider"],
                "model": m["model"],
                "days": m["days"],
                "billed": usd(m["billed_usd"]),
                "spendscope": usd(m["span_usd"]),
                "gap": usd(m["gap_usd"]),
                "share of bill": share(m["gap_share"]) if m["gap_share"] is not None else "n/a",
                "likely cause": CAUSES.get(m["cause"], m["cause"]),
                "alert": "firing" if m["firing"] else "",
            }
            for m in models
        ],
        hide_index=True,
    )


def _parts_chart(rows: list[dict[str, Any]]) -> None:
    totals: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        label = f"{row['provider']} / {row['model']}"
        for part, value in row["parts_usd"].items():
            model_parts = totals.setdefault(part, {})
            model_parts[label] = model_parts.get(label, Decimal(0)) + Decimal(value)
    if not totals:
        return
    st.subheader("What the gaps are made of")
    figure = go.Figure(
        [
            go.Bar(
                name=CAUSES.get(part, part),
                x=list(values),
                y=[float(v) for v in values.values()],
            )
            for part, values in totals.items()
        ]
    )
    figure.update_layout(barmode="relative", yaxis_title="USD (bill - spendscope)", height=360)
    st.plotly_chart(figure)


def _days(rows: list[dict[str, Any]]) -> None:
    st.subheader("Per day")
    gaps = [r for r in rows if r["cause"] != "matched"]
    st.caption(f"{len(rows) - len(gaps)} of {len(rows)} day x model rows match the bill.")
    st.dataframe(
        [
            {
                "day": r["day"],
                "provider": r["provider"],
                "model": r["model"],
                "billed": usd(r["billed_usd"]),
                "spendscope": usd(r["span_usd"]),
                "gap": usd(r["gap_usd"]),
                "billed tokens": sum(r["billed_tokens"].values()),
                "span tokens": sum(r["span_tokens"].values()),
                "why": r["explanation"],
            }
            for r in gaps
        ],
        hide_index=True,
    )


def _imports(context: PageContext) -> None:
    with st.expander("Imported bills"):
        st.dataframe(context.api.bill_imports()["imports"], hide_index=True)


PAGE = Page("Bill reconciliation", ":material/receipt_long:", "reconciliation", render)
