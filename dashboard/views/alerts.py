"""Alerts: the incidents the detectors' findings opened, their severity and status, what
was delivered to each channel (attempts, last outcome), and acknowledging one."""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import Any

import plotly.express as px
import streamlit as st

from dashboard.api import ApiClient, ApiError
from dashboard.charts import time_axis
from dashboard.links import asked
from dashboard.moments import moment
from dashboard.money import usd
from dashboard.page import Page, PageContext
from dashboard.states import filters_do_not_apply

STATUSES = ("All", "open", "resolved")
SEVERITY_ORDER = ("critical", "warning", "info")
LABEL_WIDTH = 60  # characters a line of an incident's label on the timeline, whole words
NO_ALERTS = (
    "Incidents open when a detector finds a spend anomaly, a runaway session or a budget "
    "crossing a threshold (see *Anomalies and budgets*); warnings and criticals go to the "
    "channels configured with SPENDSCOPE_SLACK_WEBHOOK_URL, SPENDSCOPE_PAGERDUTY_ROUTING_KEY "
    "or SPENDSCOPE_ALERT_WEBHOOK_URL (docs/alerts.md)."
)


def render(context: PageContext) -> None:
    api, filters, now = context.api, context.filters, context.now
    st.title("Alerts")
    st.caption(f"Incidents with a signal {filters.label.lower()} (UTC), the newest first.")
    filters_do_not_apply(filters, "Incidents are per series (an incident names its tenant)")
    status = st.selectbox("Status", STATUSES, key="alert_status")
    alerts = api.alerts(since=filters.start, status=None if status == "All" else status)["alerts"]
    open_ = [a for a in alerts if a["status"] == "open"]
    deliveries = [d for a in alerts for d in a["deliveries"]]
    cols = st.columns(4)
    cols[0].metric("Open", len(open_))
    cols[1].metric("Open, critical", sum(1 for a in open_ if a["severity"] == "critical"))
    cols[2].metric("Open, not acknowledged", sum(1 for a in open_ if not a["acknowledged_at"]))
    cols[3].metric(
        "Deliveries failed or pending",
        sum(1 for d in deliveries if d["status"] in ("failed", "pending")),
    )
    linked = _linked(api)
    if not alerts:
        st.success(f"**No incidents in this window.** {NO_ALERTS}")
        if linked is not None:
            _incident(api, [linked], linked["id"])
        return
    _timeline(alerts, filters.start, now)
    st.subheader("Incidents")
    st.dataframe(
        [
            {
                "id": a["id"],
                "severity": a["severity"],
                "status": a["status"],
                "incident": a["title"],
                "kind": a["kind"].replace("_", " "),
                "impact": usd(a["peak_impact_usd"]),
                "tenant": a["tenant_id"],
                "opened": moment(a["opened_at"]),
                "last signal": moment(a["last_signal_at"]),
                "acknowledged by": _acknowledged(a),
                "channels": ", ".join(a["notified_channels"]) or "none",
            }
            for a in alerts
        ],
        hide_index=True,
    )
    st.subheader("Deliveries")
    if deliveries:
        st.dataframe([_delivery(a, d) for a in alerts for d in a["deliveries"]], hide_index=True)
    else:
        st.caption(
            "Nothing was sent: no channel is configured, or no incident reached a severity "
            "that is routed (SPENDSCOPE_ALERT_ROUTES)."
        )
    if linked is not None and all(a["id"] != linked["id"] for a in alerts):
        alerts = [linked, *alerts]  # linked from an alert, older than the window
    _incident(api, alerts, linked["id"] if linked else None)


def _linked(api: ApiClient) -> dict[str, Any] | None:
    """The incident an alert linked to (`?incident=<id>`), None without a (valid) one."""
    asked_for = asked("incident")
    if asked_for is None or not asked_for.isdigit():
        return None
    try:
        return api.alert(int(asked_for))
    except ApiError as exc:
        if exc.status_code != 404:
            raise
        st.warning(f"Incident #{asked_for} was not found (or is another tenant's).")
        return None


def _timeline(alerts: list[dict[str, Any]], start: dt.datetime, now: dt.datetime) -> None:
    """The incidents on the window's time axis (from the first one opened, when earlier)."""
    frame = [
        {
            "incident": "<br>".join(textwrap.wrap(f"#{a['id']} {a['title']}", LABEL_WIDTH)),
            "opened": dt.datetime.fromisoformat(a["opened_at"]),
            "until": dt.datetime.fromisoformat(a["resolved_at"]) if a["resolved_at"] else now,
            "severity": a["severity"],
            "status": a["status"],
        }
        for a in alerts
    ]
    figure = px.timeline(
        frame,
        x_start="opened",
        x_end="until",
        y="incident",
        color="severity",
        category_orders={"severity": list(SEVERITY_ORDER)},
        hover_data=["status"],
    ).update_yaxes(autorange="reversed", title=None)
    lines = sum(row["incident"].count("<br>") + 1 for row in frame)
    figure.update_layout(height=max(300, 120 + 22 * lines))
    first = min([start, *(row["opened"] for row in frame)])
    st.plotly_chart(time_axis(figure, first, now))


def _delivery(alert: dict[str, Any], delivery: dict[str, Any]) -> dict[str, Any]:
    return {
        "incident": alert["id"],
        "channel": delivery["channel"],
        "event": delivery["event"],
        "severity": delivery["severity"],
        "status": delivery["status"],
        "attempts": delivery["attempts"],
        "last attempt": moment(delivery["last_attempt_at"]),
        "last outcome": _outcome(delivery),
        "note": delivery["note"],
    }


def _outcome(delivery: dict[str, Any]) -> str:
    if delivery["status"] == "sent":
        return f"sent at {moment(delivery['sent_at'])}"
    if delivery["status"] == "suppressed":
        return "suppressed (muted or acknowledged)"
    if delivery["last_error"]:
        return str(delivery["last_error"])
    return "not tried yet" if not delivery["attempts"] else str(delivery["status"])


def _acknowledged(alert: dict[str, Any]) -> str:
    if not alert["acknowledged_at"]:
        return ""
    return alert["acknowledged_by"] or "(someone)"


def _incident(api: ApiClient, alerts: list[dict[str, Any]], linked: int | None) -> None:
    st.subheader("One incident")
    ids = [a["id"] for a in alerts]
    chosen = st.selectbox(
        "Incident",
        ids,
        index=ids.index(linked) if linked in ids else 0,
        format_func=lambda id_: next(f"#{a['id']} {a['title']}" for a in alerts if a["id"] == id_),
        key="incident",
    )
    incident = api.alert(chosen)
    attempts = [
        {"channel": d["channel"], "event": d["event"], **attempt}
        for d in incident["deliveries"]
        for attempt in d["attempt_log"] or []
    ]
    if attempts:
        st.dataframe(
            [
                {
                    "channel": a["channel"],
                    "event": a["event"],
                    "attempt": a["attempt"],
                    "started": moment(a["started_at"]),
                    "HTTP status": a["status_code"],
                    "outcome": a["outcome"],
                    "error": a["error"],
                    "ms": a["duration_ms"],
                }
                for a in attempts
            ],
            hide_index=True,
        )
    else:
        st.caption("No delivery attempt for this incident.")
    if incident["status"] != "open":
        st.caption(f"Resolved at {moment(incident['resolved_at'])}.")
    elif incident["acknowledged_at"]:
        st.caption(
            f"Acknowledged by {_acknowledged(incident)} at {moment(incident['acknowledged_at'])}: "
            "later escalations are recorded, not sent."
        )
    else:
        by = st.text_input("Acknowledged by", key="acknowledged_by", placeholder="you@example.com")
        if st.button(
            "Acknowledge",
            key="acknowledge",
            help="Later escalations are recorded instead of sent; PagerDuty (and the webhook) "
            "are told if they were paged.",
        ):
            api.acknowledge(chosen, by.strip() or None)
            st.cache_data.clear()  # every page shows the incident acknowledged
            st.rerun()


PAGE = Page("Alerts", ":material/notifications_active:", "alerts", render)
