"""Sessions: the runaway sessions the runaway detector found, the costliest sessions (with
their cost against their feature's average), and one session's model calls on a
timeline. A session is a (tenant, session id): two tenants may use the same id."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import plotly.express as px
import streamlit as st

from dashboard.api import ApiClient
from dashboard.filters import Filters
from dashboard.findings import details_text, reasons_text
from dashboard.links import asked, asked_tenant
from dashboard.moments import moment
from dashboard.money import dollars, total, usd
from dashboard.page import Page, PageContext
from dashboard.states import no_data

TOP = 50


def render(context: PageContext) -> None:
    api, filters = context.api, context.filters
    st.title("Sessions")
    st.caption(f"Sessions with a model call in the window: {filters.label} (UTC).")
    runaways = _runaways(api, filters)
    sessions = api.sessions(filters.start, filters.end, limit=TOP, filters=filters.dimensions())[
        "sessions"
    ]
    if not sessions and not asked("session"):
        no_data("No sessions in this window yet (calls with a session id).")
        return
    averages = {
        row["feature"]: dollars(row["cost_per_session_usd"])
        for row in api.unit_economics(filters.start, filters.end, filters.tenant)["features"]
    }
    st.subheader("The costliest sessions")
    st.dataframe(
        [
            {
                "session": s["session_id"],
                "feature": s["feature"],
                "tenant": s["tenant_id"],
                "user": s["user_id"],
                "cost": total(s),
                "calls": s["calls"],
                "vs feature average": _ratio(s, averages),
                "started": moment(s["first_call_at"]),
                "duration (s)": round(s["duration_seconds"] or 0, 1),
            }
            for s in sessions
        ],
        hide_index=True,
    )

    # The one a link asked for (Find, a user's page), the runaways (the latest found
    # first), then the costliest.
    linked = asked("session")
    keys = [
        *([(asked_tenant(), linked)] if linked else []),
        *runaways,
        *((s["tenant_id"], s["session_id"]) for s in sessions),
    ]
    choices = _labels(list(dict.fromkeys(keys)))
    chosen = st.selectbox("Session", list(choices), key="session")
    if chosen:
        _one_session(context, chosen, *choices[chosen])


SessionKey = tuple[str | None, str]  # (tenant, session id)


def _labels(keys: list[SessionKey]) -> dict[str, SessionKey]:
    """Each session by its id, with its tenant where several tenants use that id."""
    ids = [session_id for _, session_id in keys]
    return {
        f"{session_id} (tenant {tenant or 'none'})" if ids.count(session_id) > 1 else session_id: (
            tenant,
            session_id,
        )
        for tenant, session_id in keys
    }


def _runaways(api: ApiClient, filters: Filters) -> list[SessionKey]:
    """The runaway sessions the detector found in the window (under the tenant filter);
    returns their (tenant, id), the latest found first."""
    st.subheader("Runaway sessions")
    found = api.anomalies(filters.start, filters.end, kind="runaway_session")["anomalies"]
    found = [a for a in found if filters.tenant in (None, a["details"].get("tenant_id"))]
    if not found:
        st.success(
            "**No runaway sessions found in this window.** The runaway detector watches "
            "live sessions every few seconds for loops and for calls, spend or pace far "
            "above their feature's usual sessions (docs/anomalies.md)."
        )
        return []
    found.sort(key=lambda a: a["last_detected_at"], reverse=True)
    st.dataframe(
        [
            {
                "session": a["details"].get("session_id"),
                "firing": a["firing"],
                "feature": a["details"].get("feature"),
                "user": a["details"].get("user_id"),
                "tenant": a["details"].get("tenant_id"),
                "spend": usd(details_text(a["details"].get("spend_usd"))),
                "spend / minute": usd(details_text(a["details"].get("spend_per_minute_usd"))),
                "calls": a["details"].get("calls"),
                "why": reasons_text(a["details"].get("reasons")),
                "last found": moment(a["last_detected_at"]),
            }
            for a in found
        ],
        hide_index=True,
    )
    st.caption("Found by the runaway detector; *Anomalies and budgets* has its alerts.")
    return [
        (a["details"].get("tenant_id"), str(a["details"]["session_id"]))
        for a in found
        if a["details"].get("session_id")
    ]


def _one_session(context: PageContext, label: str, tenant: str | None, session_id: str) -> None:
    detail = context.api.session(session_id, tenant)
    session, calls = detail["session"], detail["calls"]
    st.subheader(f"Session {label}")
    cols = st.columns(4)
    cols[0].metric("Cost", total(session))
    cols[1].metric("Model calls", f"{session['calls']:,}")
    unit = detail["value_unit"]
    cols[2].metric(
        f"Value units ({unit})" if unit else "Value units",
        "n/a" if detail["value_units"] is None else detail["value_units"],
    )
    cols[3].metric("Duration", f"{session['duration_seconds'] or 0:,.1f} s")
    if detail["calls_truncated"]:
        st.caption(f"Showing the first {len(calls):,} calls.")
    ordered = sorted(calls, key=lambda c: c["start_time"])
    first = _time(ordered[0]["start_time"]) if ordered else None
    timeline = [
        {
            "call": f"{n:03d} {call['name']}",
            "model": call["response_model"] or call["request_model"] or "(unknown)",
            "start": moment(call["start_time"]),
            "end": moment(call["end_time"]),
            "from_s": _seconds(call["start_time"], first),
            "for_s": _seconds(call["end_time"], first) - _seconds(call["start_time"], first),
            "cost": usd(call["cost_usd"]) if call["priced"] else "unpriced",
            "input tokens": call["input_tokens"],
            "output tokens": call["output_tokens"],
            "cached tokens": call["cache_read_tokens"],
        }
        for n, call in enumerate(ordered, start=1)
    ]
    if timeline:
        # Seconds from the session's first call: a session of a few seconds on a clock
        # axis is labelled in fractions of a second.
        figure = px.bar(
            timeline,
            base="from_s",
            x="for_s",
            y="call",
            color="model",
            orientation="h",
            hover_data=["cost", "input tokens", "output tokens", "cached tokens"],
            labels={"for_s": "seconds from the session's first call"},
        )
        figure.update_yaxes(autorange="reversed", showticklabels=len(timeline) <= 40)
        st.plotly_chart(figure.update_xaxes(rangemode="nonnegative"))
        st.dataframe(
            [{k: v for k, v in row.items() if not k.endswith("_s")} for row in timeline],
            hide_index=True,
        )


def _ratio(session: dict[str, Any], averages: dict[str, Decimal | None]) -> str:
    average = averages.get(session["feature"])
    if not average or session["cost_usd"] is None:
        return "n/a"
    return f"{Decimal(session['cost_usd']) / average:.1f}x"


def _seconds(text: str, first: dt.datetime | None) -> float:
    at = _time(text)
    return (at - first).total_seconds() if at and first else 0.0


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


PAGE = Page("Sessions", ":material/timeline:", "sessions", render)
