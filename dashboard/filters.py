"""The sidebar's filters, shared by every page: time range, environment, tenant."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import streamlit as st

from dashboard.api import ApiClient

HOUR = dt.timedelta(hours=1)
ALL = "All"
RANGES = {
    "Last 24 hours": dt.timedelta(days=1),
    "Last 7 days": dt.timedelta(days=7),
    "Last 30 days": dt.timedelta(days=30),
    "Last 90 days": dt.timedelta(days=90),
}
THIS_MONTH = "This month"
DEFAULT_RANGE = "Last 30 days"


@dataclass(frozen=True)
class Filters:
    """The window, [start, end) in whole UTC hours, and the dimension filters."""

    start: dt.datetime
    end: dt.datetime
    label: str
    environment: str | None = None
    tenant: str | None = None

    def dimensions(self) -> dict[str, str | None]:
        """The filters as `/costs` and `/sessions` parameters."""
        return {"environment": self.environment, "tenant": self.tenant}

    @property
    def filtered(self) -> bool:
        return self.environment is not None or self.tenant is not None

    @property
    def daily(self) -> bool:
        """Daily buckets suit the window (hourly below three days)."""
        return self.end - self.start > dt.timedelta(days=3)

    @property
    def grain(self) -> Literal["hour", "day"]:
        """The time buckets of the page's charts: days, or hours up to three days."""
        return "day" if self.daily else "hour"


def next_hour(now: dt.datetime) -> dt.datetime:
    """The end of the current hour: windows end there so they hold the latest calls."""
    return now.replace(minute=0, second=0, microsecond=0) + HOUR


def window(label: str, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    end = next_hour(now)
    if label == THIS_MONTH:
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0), end
    return end - RANGES[label], end


def sidebar_filters(api: ApiClient, now: dt.datetime) -> Filters:
    """Renders the filters in the sidebar and returns what they select. The environment
    and tenant choices are those with calls in the chosen window."""
    labels = [*RANGES, THIS_MONTH]
    label = st.sidebar.selectbox(
        "Time range", labels, index=labels.index(DEFAULT_RANGE), key="range"
    )
    start, end = window(label, now)
    options = api.costs(start, end, group_by=("environment", "tenant"))["rows"]
    environments = sorted({row["dimensions"]["environment"] or "" for row in options} - {""})
    tenants = sorted({row["dimensions"]["tenant"] or "" for row in options} - {""})
    environment = st.sidebar.selectbox("Environment", [ALL, *environments], key="environment")
    tenant = st.sidebar.selectbox("Tenant", [ALL, *tenants], key="tenant")
    return Filters(
        start=start,
        end=end,
        label=label,
        environment=None if environment == ALL else environment,
        tenant=None if tenant == ALL else tenant,
    )
