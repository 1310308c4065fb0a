"""The charts' axes, set the same way on every page so that they read well on day one.

Left to plotly's autorange, a time axis around a single bar (one day of data in a 30-day
window) spans a millisecond and is labelled "23:59:59.9996 ... 00:00:00.0004", and a cost
axis with nothing (or one marker) on it runs from -1. So a time axis shows the window the
page asks about, each bar as wide as its bucket, and a cost axis starts at zero.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import plotly.graph_objects as go

BUCKET_MS = {"hour": 3_600_000, "day": 86_400_000}
Grain = Literal["hour", "day"]


def cost_axis(figure: go.Figure, axis: Literal["x", "y"] = "y") -> go.Figure:
    """An axis of amounts (never negative): from zero up, whatever is drawn."""
    if axis == "x":
        return figure.update_xaxes(rangemode="nonnegative")
    return figure.update_yaxes(rangemode="nonnegative")


def time_axis(
    figure: go.Figure,
    start: dt.datetime,
    end: dt.datetime,
    grain: Grain | None = None,
    title: str | None = None,
) -> go.Figure:
    """The x axis shows [start, end), whatever the data covers; with a `grain`, each bar
    fills its bucket (bucket starts in x), each point sits in its bucket's middle."""
    if grain is not None:
        period = BUCKET_MS[grain]
        # To the end of the last bucket, which holds the hour under way.
        last = end - dt.timedelta(microseconds=1)
        last = last.replace(minute=0, second=0, microsecond=0)
        if grain == "day":
            last = last.replace(hour=0)
        end = last + dt.timedelta(milliseconds=period)
        figure.update_traces(
            selector={"type": "bar"},
            width=period * 0.85,
            xperiod=period,
            xperiodalignment="middle",
        )
        figure.update_traces(
            selector={"type": "scatter"}, xperiod=period, xperiodalignment="middle"
        )
    return figure.update_xaxes(type="date", range=[start, end], title=title)
