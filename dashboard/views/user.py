"""One user: cost, calls and sessions in the window, cost and calls per day, and their
sessions (each linking to its calls). A user id is one tenant's: the page is for a
(user, tenant), as the URL gives them (`?user=&tenant=`), or as typed."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboard.charts import cost_axis, time_axis
from dashboard.links import asked, asked_tenant, session_link
from dashboard.moments import moment
from dashboard.money import chart_amount, priced_cost
from dashboard.page import Page, PageContext
from dashboard.states import no_data


def render(context: PageContext) -> None:
    api, filters = context.api, context.filters
    st.title("User")
    left, right = st.columns(2)
    user = left.text_input("User id", value=asked("user") or "", key="user_id").strip()
    tenant = right.text_input(
        "Tenant", value=asked_tenant() or filters.tenant or "", key="user_tenant",
        help="A user id is one tenant's; leave empty for users without a tenant.",
    ).strip() or None  # fmt: skip
    if not user:
        st.caption("Type a user id, or find one on the *Find* page.")
        return
    st.query_params.update({"user": user, "tenant": tenant or ""})
    st.caption(f"User {user}, tenant {tenant or 'none'}: {filters.label} (UTC), whole days.")
    where = {"user": user, "tenant": tenant}
    days = api.costs(filters.start, filters.end, grain="day", filters=where)
    totals = days["totals"]
    sessions = api.sessions(filters.start, filters.end, limit=100, filters=where)["sessions"]
    cols = st.columns(3)
    cols[0].metric(
        "Cost", priced_cost(totals["cost_usd"], totals["calls"], totals["unpriced_calls"])
    )
    cols[1].metric("Model calls", f"{totals['calls']:,}")
    cols[2].metric("Sessions", f"{len(sessions):,}{'+' if len(sessions) == 100 else ''}")
    if not totals["calls"]:
        no_data(f"No model calls of user {user!r} (tenant {tenant or 'none'}) in this window.")
        return
    frame = [
        {"day": row["period"], "cost_usd": chart_amount(row["cost_usd"]), "calls": row["calls"],
         "cost": priced_cost(row["cost_usd"], row["calls"], row["unpriced_calls"])}
        for row in days["rows"]
    ]  # fmt: skip
    left, right = st.columns(2)
    for column, measure, title in ((left, "cost_usd", "Cost per day (USD)"),
                                   (right, "calls", "Model calls per day")):  # fmt: skip
        figure = px.bar(frame, x="day", y=measure, hover_data=["cost", "calls"],
                        labels={measure: title})  # fmt: skip
        column.subheader(title)
        column.plotly_chart(cost_axis(time_axis(figure, filters.start, filters.end, "day")))
    st.subheader("Sessions")
    st.dataframe(
        [
            {
                "session": session_link(s["session_id"], s["tenant_id"]),
                "feature": s["feature"],
                "cost": priced_cost(s["cost_usd"], s["calls"], s["unpriced_calls"]),
                "calls": s["calls"],
                "started": moment(s["first_call_at"]),
            }
            for s in sessions
        ],
        hide_index=True,
        column_config={
            "session": st.column_config.LinkColumn("session", display_text=r"session=([^&]*)")
        },
    )


PAGE = Page("User", ":material/person:", "user", render)
