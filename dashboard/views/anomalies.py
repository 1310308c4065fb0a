"""Anomalies and budgets: what the detectors found (spend anomalies, runaway sessions,
budgets crossing a threshold) with their explanation, each budget's spend against its
amount with the period-end forecast, and the live budget check (`dashboard.budget_check`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboard import budget_check
from dashboard.findings import NO_BUDGETS, budget_row, details_text, finding_row
from dashboard.money import usd
from dashboard.page import Page, PageContext
from dashboard.states import filters_do_not_apply

# The parts of a spend anomaly's excess (`details.explanation.parts_usd`), in order.
CAUSES = {
    "calls": "more calls",
    "tokens_per_call": "tokens per call",
    "model_mix": "model mix",
    "cache": "cache",
    "other": "other",
}
NO_FINDINGS = (
    "The detectors compare each feature's and model's hourly spend with its usual for that "
    "hour, watch live sessions for loops, and check budgets; they run every few seconds "
    "while `spendscope serve` runs (docs/anomalies.md)."
)


def render(context: PageContext) -> None:
    api, filters = context.api, context.filters
    st.title("Anomalies and budgets")
    st.caption(f"Found {filters.label.lower()} (UTC), the latest first.")
    filters_do_not_apply(filters, "The detectors watch everything (a finding names its tenant)")
    found = api.anomalies(filters.start, filters.end)["anomalies"]
    firing = [a for a in found if a["firing"]]
    cols = st.columns(4)
    cols[0].metric("Firing now", len(firing), help="Found on one of the detector's last runs.")
    cols[1].metric("Runaway sessions", sum(1 for a in firing if a["kind"] == "runaway_session"))
    cols[2].metric("Found in the window", len(found))
    cols[3].metric(
        "Projected impact, firing",
        usd(projected_impact(firing)),
        help=(
            "The firing findings' projected dollar impact, never counting a dollar twice: "
            "overlapping spend series (the total, a feature, its feature x model; per hour, "
            "day and cost per call) are not summed, only the largest non-overlapping cut."
        ),
    )
    if found:
        _findings(found)
    else:
        st.success(f"**Nothing unusual found in this window.** {NO_FINDINGS}")
    _budgets(api.budgets()["budgets"])
    budget_check.render(api, filters)


def projected_impact(firing: list[dict[str, Any]]) -> Decimal:
    """The firing findings' projected impact without counting a dollar twice.

    Spend series overlap: the total holds every feature, a feature its feature x model
    series, and one series fires per hour, per day and per call. So each series counts
    once (its largest grain), and the spend is the largest of the cuts that do not
    overlap: the total; every feature (else its feature x model series); every model
    (else its feature x model series); every tenant. Runaway sessions (distinct sessions)
    are summed; the spend they make is inside the spend series, so the larger of the two
    counts, and any other finding only when it is larger still."""
    series: dict[str, Decimal] = {}
    other = runaway = Decimal(0)
    for finding in firing:
        impact = Decimal(finding["impact_usd"])
        if finding["kind"] == "spend_anomaly":
            key = finding["series"].split(":", 2)[-1]
            series[key] = max(series.get(key, Decimal(0)), impact)
        elif finding["kind"] == "runaway_session":
            runaway += impact
        else:
            other = max(other, impact)

    def cut(broad: str) -> Decimal:
        total = Decimal(0)
        names = {p for k in series for p in k.split("|") if p.startswith(broad + "=")}
        for name in names:
            if name in series:
                total += series[name]
            else:
                total += sum(
                    (v for k, v in series.items() if "|" in k and name in k.split("|")),
                    Decimal(0),
                )
        return total

    spend = max(series.get("total", Decimal(0)), cut("feature"), cut("model"), cut("tenant"))
    return max(spend, runaway, other)


def _findings(found: list[dict[str, Any]]) -> None:
    st.subheader("Findings")
    st.dataframe([finding_row(a) for a in found], hide_index=True)
    chosen = st.selectbox(
        "Explain",
        range(len(found)),
        format_func=lambda index: found[index]["title"],
        key="finding",
    )
    finding = found[chosen]
    details = finding["details"]
    if finding["kind"] == "spend_anomaly":
        _spend_explanation(details)
    elif finding["kind"] == "runaway_session":
        _runaway(details)
    else:
        st.json(details, expanded=True)


def _spend_explanation(details: dict[str, Any]) -> None:
    explanation = details.get("explanation") or {}
    parts = explanation.get("parts_usd") or {}
    shares = explanation.get("shares") or {}
    if not parts:
        st.caption("No breakdown for this finding (a cold start has no usual to compare).")
        return
    main = CAUSES.get(explanation.get("main_cause", ""), explanation.get("main_cause"))
    st.markdown(
        f"**{usd(str(explanation['excess_usd']))} over the usual**, mostly from **{main}**. "
        "What share of the excess each cause explains:"
    )
    frame = [
        {
            "cause": label,
            "share": shares.get(cause, 0.0),
            "usd": usd(str(parts.get(cause, 0))),
        }
        for cause, label in CAUSES.items()
    ]
    st.plotly_chart(
        px.bar(frame, x="share", y="cause", orientation="h", hover_data=["usd"])
        .update_xaxes(tickformat=".0%")
        .update_yaxes(categoryorder="array", categoryarray=list(reversed(CAUSES.values())))
    )
    models = explanation.get("models") or []
    if models:
        st.dataframe(
            [
                {
                    "model": m["model"],
                    "calls": m["calls"],
                    "usual calls": m["usual_calls"],
                    "cost": usd(str(m["cost_usd"])),
                    "usual cost": usd(str(m["usual_usd"])),
                }
                for m in models
            ],
            hide_index=True,
        )


def _runaway(details: dict[str, Any]) -> None:
    cols = st.columns(4)
    cols[0].metric("Session", str(details.get("session_id")))
    cols[1].metric("Calls", f"{details.get('calls', 0):,}")
    cols[2].metric("Spend so far", usd(details_text(details.get("spend_usd"))))
    cols[3].metric("Spend / minute", usd(details_text(details.get("spend_per_minute_usd"))))
    st.caption(
        f"Feature {details.get('feature')}, user {details.get('user_id')}, "
        f"tenant {details.get('tenant_id')}. See it call by call on the *Sessions* page."
    )
    reasons = details.get("reasons") or []
    st.dataframe(
        [
            {
                "why": r["reason"],
                "measure": r.get("measure"),
                "x its peers' median": r.get("times"),
                "repeats": r.get("repeats"),
            }
            for r in reasons
        ],
        hide_index=True,
    )


def budget_chart(budgets: list[dict[str, Any]]) -> go.Figure:
    """Spend so far and forecast per budget, in percent of each budget's amount."""
    names = [b["name"] for b in budgets]

    def bar(name: str, key: str) -> go.Bar:
        return go.Bar(
            name=name,
            x=names,
            # A month budget without a day of history has no forecast yet (null): no bar.
            y=[
                None if b[key] is None else float(Decimal(b[key]) * 100 / Decimal(b["amount_usd"]))
                for b in budgets
            ],
            customdata=[[usd(b[key]), usd(b["amount_usd"])] for b in budgets],
            hovertemplate="%{y:.0f}%: %{customdata[0]} of %{customdata[1]}",
        )

    figure = go.Figure([bar("spend so far", "spend_usd"), bar("forecast", "forecast_usd")])
    figure.add_hline(y=100, line_dash="dash", annotation_text="budget", line_color="firebrick")
    return figure.update_layout(barmode="group", yaxis_title="% of the budget").update_yaxes(
        rangemode="nonnegative", ticksuffix="%"
    )


def _budgets(budgets: list[dict[str, Any]]) -> None:
    st.subheader("Budgets")
    if not budgets:
        st.info(NO_BUDGETS)
        return
    st.caption(
        "Each budget on its own scale: spend so far and the period-end forecast as a share "
        "of its amount (the line at 100%), so a $10 daily budget overrunning shows beside a "
        "$1,500 monthly one. Hover for the dollars."
    )
    st.plotly_chart(budget_chart(budgets))
    st.dataframe([budget_row(b) for b in budgets], hide_index=True)
    over = [b["name"] for b in budgets if b["forecast_overrun"]]
    if over:
        st.warning(f"Forecast to overrun by the end of the period: {', '.join(over)}.")


PAGE = Page("Anomalies and budgets", ":material/crisis_alert:", "anomalies", render)
