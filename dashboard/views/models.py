"""Models and prices: the model mix, latency beside cost per model, what prompt caching
saved, the models still unpriced, and the price overrides in force."""

from __future__ import annotations

from typing import Any

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboard.api import ApiClient
from dashboard.filters import Filters
from dashboard.latency import latency_table, trade_off
from dashboard.moments import moment
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
        _latency(api, filters)

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
    st.plotly_chart(mix_donuts(frame))
    st.dataframe([{k: v for k, v in r.items() if k != "cost_usd"} for r in frame], hide_index=True)


def _latency(api: ApiClient, filters: Filters) -> None:
    st.subheader("Latency and cost by model")
    rows = api.latency(filters.start, filters.end, filters=filters.dimensions())["rows"]
    figure = trade_off(rows)
    if figure is not None:
        st.plotly_chart(figure)
    st.dataframe(latency_table(rows), hide_index=True)
    st.caption(
        "Latency is each successful call's span duration; time to first token is measured "
        "by the instrumentation on streamed calls (n/a when none of a model's calls says). "
        "p50 / p95 over the window's calls; cost per 1k requests over the priced ones."
    )


def mix_donuts(frame: list[dict[str, Any]]) -> go.Figure:
    """Share of cost and share of calls, side by side, one colour per model in both (and
    one legend); percentages inside the slices, names in the legend, so nothing is clipped."""
    models = list(dict.fromkeys(row["model"] for row in frame))
    palette = px.colors.qualitative.Plotly + px.colors.qualitative.Set3
    colours = [palette[models.index(row["model"]) % len(palette)] for row in frame]
    figure = make_subplots(
        rows=1,
        cols=2,
        specs=[[{"type": "domain"}, {"type": "domain"}]],
        subplot_titles=("Share of cost", "Share of calls"),
    )
    for column, values in ((1, "cost_usd"), (2, "calls")):
        figure.add_trace(
            go.Pie(
                labels=[row["model"] for row in frame],
                values=[row[values] for row in frame],
                marker={"colors": colours},
                hole=0.4,
                sort=False,
                textposition="inside",
                textinfo="percent",
                name=values,
            ),
            row=1,
            col=column,
        )
    return figure.update_layout(
        uniformtext={"minsize": 10, "mode": "hide"}, legend={"title": {"text": "model"}}
    )


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
                "last call": moment(row["last_call"]),
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
                "effective from": moment(row["effective_from"]),
                "source": row["source"],
                "note": row["note"],
            }
            for row in overrides
        ],
        hide_index=True,
    )


PAGE = Page("Models and prices", ":material/sell:", "models", render)
