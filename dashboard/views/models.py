"""Models and prices: the model mix, what prompt caching saved, the models still unpriced,
and the price overrides in force."""

from __future__ import annotations

from typing import Any

import plotly.express as px
import streamlit as st

from dashboard.money import chart_amount, share, total
from dashboard.page import Page, PageContext
from dashboard.states import no_data

RATES = ("input_mtok", "cache_read_mtok", "cache_write_mtok", "output_mtok")


def render(context: PageContext) -> None:
    api, filters = context.api, context.filters
    st.title("Models and prices")
    st.caption(f"{filters.label} (UTC).")
    mix = api.costs(
        filters.start, filters.end, group_by=("provider", "model"), filters=filters.dimensions()
    )
    if not mix["rows"]:
        no_data("No model calls in this window yet.")
    else:
        _model_mix(mix["rows"])

    st.subheader("Prompt caching")
    savings = api.cache_savings(filters.start, filters.end, filters=filters.dimensions())
    cols = st.columns(3)
    cols[0].metric("Saved by cache reads", total(savings, "cache_savings_usd"))
    cols[1].metric("Cost", total(savings))
    cols[2].metric("Cost without caching", total(savings, "cost_without_cache_usd"))
    cached = [row for row in savings["rows"] if row["cache_read_tokens"]]
    if cached:
        st.dataframe(
            [
                {
                    "feature": row["feature"],
                    "model": row["model"],
                    "cache read tokens": row["cache_read_tokens"],
                    "input tokens": row["input_tokens"],
                    "saved": total(row, "cache_savings_usd"),
                    "saving": share(row["savings_rate"]),
                }
                for row in cached
            ],
            hide_index=True,
        )
    else:
        st.caption("No cache reads in this window.")

    prices = api.prices()
    _unpriced(prices["unpriced"])
    _overrides(prices["overrides"])
    st.caption(
        f"List prices from the {prices['catalog']['name']} catalog "
        f"{prices['catalog']['version']}; see docs/pricing.md to add your own."
    )


def _model_mix(rows: list[dict[str, Any]]) -> None:
    frame = [
        {
            "provider": row["dimensions"]["provider"] or "(unknown)",
            "model": row["dimensions"]["model"] or "(unknown)",
            "cost_usd": chart_amount(row["cost_usd"]),
            "cost": total(row),
            "calls": row["calls"],
            "unpriced calls": row["unpriced_calls"],
            "input tokens": row["tokens"]["input"],
            "output tokens": row["tokens"]["output"],
            "cached tokens": row["tokens"]["cache_read"],
        }
        for row in sorted(rows, key=lambda r: -chart_amount(r["cost_usd"]))
    ]
    st.subheader("Model mix")
    left, right = st.columns(2)
    with left:
        st.plotly_chart(
            px.pie(frame, names="model", values="cost_usd", title="Share of cost", hole=0.4)
        )
    with right:
        st.plotly_chart(
            px.pie(frame, names="model", values="calls", title="Share of calls", hole=0.4)
        )
    st.dataframe([{k: v for k, v in r.items() if k != "cost_usd"} for r in frame], hide_index=True)


def _unpriced(unpriced: list[dict[str, Any]]) -> None:
    st.subheader("Unpriced models")
    if not unpriced:
        st.success("Every model call has a price.")
        return
    st.warning(
        "These calls are counted but not priced (never as $0): add a price override in "
        "`prices.toml` or `POST /api/v1/prices`, and their history is re-priced."
    )
    st.dataframe(
        [
            {
                "provider": row["provider"],
                "model": row["model"],
                "reason": row["reason"],
                "calls": row["calls"],
                "input tokens": row["input_tokens"],
                "output tokens": row["output_tokens"],
                "last call": row["last_call"],
            }
            for row in unpriced
        ],
        hide_index=True,
    )


def _overrides(overrides: list[dict[str, Any]]) -> None:
    st.subheader("Price overrides")
    if not overrides:
        st.caption("No overrides: every price is the catalog's list price.")
        return
    st.dataframe(
        [
            {
                "provider": row["provider"],
                "model": row["model"],
                **{f"{rate[:-5]} $/MTok": row[rate] for rate in RATES},
                "effective from": row["effective_from"],
                "source": row["source"],
                "note": row["note"],
            }
            for row in overrides
        ],
        hide_index=True,
    )


PAGE = Page("Models and prices", ":material/sell:", "models", render)
