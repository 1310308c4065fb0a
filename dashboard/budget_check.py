"""The budget check, live: the limits that hold a call of a session / feature / tenant the user
enters, and the answer `GET /api/v1/budget/check` gives for it now (docs/budgets.md).

The answer is read on every rerun, never cached: it is the in-memory ledger's, not the
rollups'. A tenant token checks its own tenant, and the spend of limits that span tenants
(a feature's, the total) is not shown to it: the panel says so instead of showing $0.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import streamlit as st

from dashboard.api import ApiClient, ApiError, ApiForbidden
from dashboard.filters import Filters
from dashboard.moments import moment
from dashboard.money import usd

TOP = 10  # the costliest sessions offered to check
HIDDEN = "not shown"  # a figure the API hides from a tenant token (it spans tenants)
NO_LIMITS = (
    "No limit holds this call. The limits are the `[budget_check]` section of "
    "`detection.toml` in the data directory (`session_usd`, `feature_session_usd`, and the "
    "budgets it `enforce`s; docs/budgets.md), then `POST /api/v1/budgets/reload` or restart "
    "the service."
)
NOTHING_ENTERED = (
    "No enforced total budget holds every call: enter a session id, a feature or a tenant "
    "to see the limits that hold its calls."
)
NOT_READY = "The live ledger is not ready yet (the service is starting): try again in a moment."


def scope_row(scope: dict[str, Any]) -> dict[str, Any]:
    """One limit of the answer as a table row; a hidden figure says so, never $0."""

    def money(key: str) -> str:
        value = scope[key]
        return HIDDEN if value is None else usd(value)

    limit = scope["limit_usd"]
    return {
        "limit": scope["budget"] or f"{scope['scope']} limit",
        "of": f"{scope['scope']} {scope['value']}" if scope["value"] else scope["scope"],
        "period": scope["period"],
        "spend": money("spend_usd"),
        "limit usd": usd(limit) if limit is not None else "none",
        "remaining": money("remaining_usd") if limit is not None else "no limit",
        "calls": HIDDEN if scope["calls"] is None else f"{scope['calls']:,}",
        "unpriced calls": (
            HIDDEN if scope["unpriced_calls"] is None else f"{scope['unpriced_calls']:,}"
        ),
        "reached": scope["exceeded"],
    }


def _pick(sessions: list[dict[str, Any]]) -> None:
    """A session chosen from the list fills the three fields (before they are drawn)."""
    chosen = st.session_state.get("check_pick")
    if chosen is None:
        return
    picked = sessions[chosen]
    st.session_state["check_session"] = picked["session_id"]
    st.session_state["check_feature"] = picked["feature"] or ""
    st.session_state["check_tenant"] = picked["tenant_id"] or ""


def _costliest(api: ApiClient, filters: Filters) -> None:
    """The window's costliest sessions (the warehouse's list; their check is live)."""
    sessions = api.sessions(filters.start, filters.end, limit=TOP)
    found = sessions["sessions"]
    if not found:
        return
    st.selectbox(
        f"Or check one of the {len(found)} costliest sessions of the window",
        range(len(found)),
        index=None,
        format_func=lambda i: (
            f"{found[i]['session_id']} (tenant {found[i]['tenant_id']}, feature "
            f"{found[i]['feature']}, {usd(found[i]['cost_usd'])} in the window)"
        ),
        key="check_pick",
        help="The warehouse's list of the window; the check itself is live. The live "
        "ledger forgets a session idle for 7 days (docs/budgets.md).",
        on_change=_pick,
        args=(found,),
    )


def render(api: ApiClient, filters: Filters) -> None:
    st.subheader("Budget check, live")
    st.caption(
        "What `GET /api/v1/budget/check` answers now for a model call of this session, "
        "feature and tenant (each may be left empty): allow or deny, and every limit that "
        "holds the call with its spend and what remains. Left empty, it lists the limits "
        "that hold every call (the enforced total budgets)."
    )
    _costliest(api, filters)
    cols = st.columns(3)
    session = cols[0].text_input("Session id", key="check_session").strip()
    feature = cols[1].text_input("Feature", key="check_feature").strip()
    tenant = (
        cols[2]
        .text_input("Tenant", key="check_tenant", help="Session ids are unique per tenant.")
        .strip()
    )
    try:
        answer = api.budget_check(session or None, feature or None, tenant or None)
    except ApiForbidden as exc:
        st.warning(f"**A tenant token checks its own tenant only.** {exc}")
        return
    except ApiError as exc:
        if exc.status_code != 503:
            raise
        st.info(NOT_READY)
        return
    _answer(answer, entered=bool(session or feature or tenant))


def _answer(answer: dict[str, Any], entered: bool) -> None:
    scopes = answer["scopes"]
    limited = [s for s in scopes if s["limit_usd"] is not None]
    session = next((s for s in scopes if s["scope"] == "session"), None)
    tightest = min(
        (s for s in limited if s["remaining_usd"] is not None),
        key=lambda s: Decimal(s["remaining_usd"]),
        default=None,
    )
    cols = st.columns(4)
    cols[0].metric("Decision", "allow" if answer["allowed"] else "deny")
    cols[1].metric(
        "Session spend, live",
        usd(session["spend_usd"]) if session and session["spend_usd"] is not None else "none",
        help="The session's spend since its first call (enter a session id).",
    )
    cols[2].metric(
        "Tightest limit",
        usd(tightest["limit_usd"]) if tightest else "none",
        help="The limit with the least remaining, of those whose spend this token may see.",
    )
    cols[3].metric("Remaining", usd(tightest["remaining_usd"]) if tightest else "none")
    if answer["allowed"]:
        st.success("**Allowed**: no limit that holds this call is reached.")
    else:
        st.error(f"**Denied**: {answer['reason']}.")
    if scopes:
        st.dataframe([scope_row(s) for s in scopes], hide_index=True)
    if not limited:
        st.info(NO_LIMITS if entered else NOTHING_ENTERED)
    if any(s["spend_usd"] is None for s in scopes):
        st.caption(
            f"*{HIDDEN}*: the limit spans tenants (a feature's or the total), so its spend "
            "is not shown to a tenant token; it still decides for this call."
        )
    seeded = answer["seeded_at"]
    st.caption(
        f"Live: spend from the in-memory ledger at {moment(answer['at'])} (spans count as "
        "soon as they are committed, priced with the price book), not the hourly rollups"
        + (f"; filled from the warehouse at {moment(seeded)}." if seeded else ".")
    )
