"""Find: a session, trace or user by its id (or the first characters of it), whatever
the window; each found one links to its page (the session's calls, the user's page)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.links import asked, session_link, user_link
from dashboard.moments import moment
from dashboard.money import priced_cost
from dashboard.page import Page, PageContext

HOW = (
    "Type a session id, a trace id (32 hex characters) or a user id, whole or its first "
    "three characters or more. Search looks at everything stored, not only the window."
)


def render(context: PageContext) -> None:
    st.title("Find")
    text = st.text_input(
        "Session, trace or user id", value=asked("q") or "", key="find", help=HOW
    ).strip()
    if not text:
        st.caption(HOW)
        return
    st.query_params["q"] = text
    found = context.api.search(text)
    if not any(found[kind] for kind in ("sessions", "traces", "users")):
        st.info(
            f"**Nothing has the id {text!r}.** Ids are matched exactly (case matters), or by "
            "their start from three characters; calls show up a few seconds after they are "
            "sent."
        )
        return
    for kind, title, first in (("sessions", "Sessions", None), ("traces", "Traces", "trace")):
        if found[kind]:
            st.subheader(title)
            _table([_session_row(row, first) for row in found[kind]], "session")
    if found["users"]:
        st.subheader("Users")
        _table(
            [{"user": user_link(row["user_id"], row["tenant_id"]), **_figures(row)}
             for row in found["users"]],
            "user",
        )  # fmt: skip


def _session_row(row: dict[str, Any], first: str | None) -> dict[str, Any]:
    """A session's or a trace's row (`first`: the trace id's column), linking the session."""
    linked = session_link(row["session_id"], row["tenant_id"]) if row["session_id"] else None
    return {
        **({first: row["trace_id"]} if first else {}),
        "session": linked,
        "feature": row["feature"],
        "user": row["user_id"],
        **_figures(row),
    }


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant": row["tenant_id"],
        "cost": priced_cost(row["cost_usd"], row["calls"], row["unpriced_calls"]),
        "calls": row["calls"],
        "first call": moment(row["first_call_at"]),
        "last call": moment(row["last_call_at"]),
    }


def _table(rows: list[dict[str, Any]], link: str) -> None:
    """A table whose `link` column opens the linked page (showing the id)."""
    st.dataframe(
        rows,
        hide_index=True,
        column_config={
            link: st.column_config.LinkColumn(link, display_text=r"[?&](?:session|user)=([^&]*)")
        },
    )


PAGE = Page("Find", ":material/search:", "find", render)
