"""Latency beside cost, as the pages show it: milliseconds for people, and the chart of
cost per 1,000 requests against p95 latency (the trade-off a routing decision weighs)."""

from __future__ import annotations

from typing import Any

import plotly.express as px
import plotly.graph_objects as go

from dashboard.money import chart_amount, usd


def milliseconds(value: float | None) -> str:
    """`1,234 ms` (`n/a` when nothing was measured)."""
    return "n/a" if value is None else f"{value:,.0f} ms"


def latency_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per group of `/latency`: its dimensions, cost per 1k requests and latency."""
    return [
        {
            **{name: value or "(unknown)" for name, value in row["dimensions"].items()},
            "requests": row["calls"],
            "cost / 1k requests": "unpriced"
            if row["cost_per_1k_requests_usd"] is None
            else usd(row["cost_per_1k_requests_usd"]),
            "p50 latency": milliseconds(row["latency_p50_ms"]),
            "p95 latency": milliseconds(row["latency_p95_ms"]),
            "p50 time to first token": milliseconds(row["ttft_p50_ms"]),
            "p95 time to first token": milliseconds(row["ttft_p95_ms"]),
            "streamed requests measured": row["ttft_calls"],
        }
        for row in rows
    ]


def trade_off(rows: list[dict[str, Any]]) -> go.Figure | None:
    """Cost per 1k requests against p95 latency, one point per model (size: requests);
    None when no priced, measured model is left to draw."""
    points = [
        {
            "model": row["dimensions"].get("model") or "(unknown)",
            "p95 latency (ms)": row["latency_p95_ms"],
            "cost per 1k requests (USD)": chart_amount(row["cost_per_1k_requests_usd"]),
            "requests": row["calls"],
        }
        for row in rows
        if row["latency_p95_ms"] is not None and row["cost_per_1k_requests_usd"] is not None
    ]
    if not points:
        return None
    figure = px.scatter(
        points,
        x="p95 latency (ms)",
        y="cost per 1k requests (USD)",
        color="model",
        size="requests",
        log_y=all(point["cost per 1k requests (USD)"] > 0 for point in points),
        title="Cost against latency: lower left is cheaper and faster",
    )
    return figure.update_layout(legend={"title": {"text": "model"}})
