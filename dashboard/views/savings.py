"""Savings: what the recorded calls would have cost with another model, prompt caching or
batch prices, ranked by dollars per month, each with its interval, its assumptions and (for
a model swap) the quality evidence; and a routing rule of the user's own, replayed
(`GET /api/v1/savings`, `/savings/what-if`; docs/savings.md)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.api import ApiError
from dashboard.money import share, usd
from dashboard.page import Page, PageContext

KINDS = {"model_swap": "Model swap", "prompt_caching": "Prompt caching", "batch": "Batch"}
NONE_FOUND = (
    "No saving found in the recorded calls of this window: no feature has a cheaper model "
    "that also served it, no repeated input left uncached, no non-interactive traffic off "
    "the batch tier (docs/savings.md says what each looks for)."
)


def render(context: PageContext) -> None:
    st.title("Savings")
    filters = context.filters
    if filters.environment is not None:
        st.warning("The environment filter does not apply on this page (every environment).")
    body = context.api.savings(filters.start, filters.end, filters.tenant)
    found = body["opportunities"]
    left, right = st.columns(2)
    left.metric("Opportunities", len(found))
    right.metric(
        "Up to, per month",
        usd(body["monthly_savings_usd"]),
        help="The sum of the opportunities: they may overlap (a call swapped and cached).",
    )
    if not found:
        st.info(NONE_FOUND)
    else:
        _ranked(found)
        for rank, opportunity in enumerate(found, start=1):
            _details(rank, opportunity)
    _what_if(context, found)


def _interval(monthly: dict[str, Any]) -> str:
    return f"{usd(monthly['low_usd'])} to {usd(monthly['high_usd'])}"


def _ranked(found: list[dict[str, Any]]) -> None:
    st.dataframe(
        [
            {
                "rank": rank,
                "kind": KINDS[o["kind"]],
                "feature": o["feature"],
                "model": o["model"],
                "change": o["change"],
                "$ / month": usd(o["monthly_savings"]["usd"]),
                f"{o['monthly_savings']['confidence']:.0%} interval": _interval(
                    o["monthly_savings"]
                ),
                "now $ / month": usd(o["monthly_cost_usd"]),
                "calls": o["calls"],
            }
            for rank, o in enumerate(found, start=1)
        ],
        hide_index=True,
    )


def _evidence(rows: list[dict[str, Any]]) -> None:
    st.dataframe(
        [
            {
                "model": row["model"],
                "calls": row["calls"],
                "error rate": share(row["error_rate"]),
                "sessions": row["sessions"],
                "value unit": row["value_unit"] or "none configured",
                "success rate": share(row["success_rate"]),
            }
            for row in rows
        ],
        hide_index=True,
    )


def _details(rank: int, o: dict[str, Any]) -> None:
    title = f"#{rank} {KINDS[o['kind']]}: {o['feature']} {o['model']} ({o['change']})"
    with st.expander(title):
        st.markdown(
            f"**{usd(o['monthly_savings']['usd'])} per month** "
            f"({_interval(o['monthly_savings'])}, over {o['monthly_savings']['days']} days of "
            f"history); {o['calls']:,} calls cost {usd(o['cost_usd'])}, would have cost "
            f"{usd(o['what_if_cost_usd'])}."
        )
        st.markdown("**Assumptions**")
        st.markdown("\n".join(f"- {line}" for line in o["assumptions"]))
        if o["kind"] == "model_swap":
            st.markdown(f"**Quality evidence**: {o['evidence_note']}")
            _evidence(o["evidence"])


def _what_if(context: PageContext, found: list[dict[str, Any]]) -> None:
    st.subheader("Try a routing rule")
    features = sorted({o["feature"] for o in found if o["feature"]})
    with st.form("what_if"):
        left, middle, right = st.columns(3)
        feature = left.text_input("Feature", value=features[0] if features else "")
        to_model = middle.text_input("Route to model", placeholder="gpt-4o-mini")
        limit = right.number_input("Only calls with input under (tokens, 0: any)", 0, step=500)
        no_tools = st.checkbox("Only calls that used no tool")
        asked = st.form_submit_button("Replay on the recorded calls")
    if not asked or not to_model:
        st.caption("Name a feature and a target model to replay its calls under a rule.")
        return
    rule: dict[str, str | int | None] = {
        "feature": feature or None,
        "tenant": context.filters.tenant,
        "to_model": to_model,
        "max_input_tokens": int(limit) or None,
        "no_tools": "true" if no_tools else "false",
    }
    try:
        result = context.api.savings_what_if(context.filters.start, context.filters.end, rule)
    except ApiError as exc:
        st.error(str(exc))
        return
    total = result["monthly_savings"]
    st.markdown(
        f"**{result['rule']}**: {result['moved_calls']:,} of {result['calls']:,} calls move; "
        f"**{usd(total['usd'])} per month** ({_interval(total)})."
    )
    for row in result["features"]:
        st.markdown(f"- {row['feature']}: {row['evidence_note']}")
    _evidence(result["evidence"])
    st.markdown("\n".join(f"- {line}" for line in result["assumptions"]))


PAGE = Page("Savings", ":material/savings:", "savings", render)
