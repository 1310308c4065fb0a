"""Links between the pages: a session, a user, an incident, each at its own page's URL
with the query parameters that page reads (`?session=&tenant=`, `?user=&tenant=`,
`?incident=`). The alerts' notices link to the incident the same way
(SPENDSCOPE_DASHBOARD_URL on the service)."""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st


def _link(page: str, **params: str | None) -> str:
    given = {key: value for key, value in params.items() if value is not None}
    return f"/{page}?{urlencode(given)}" if given else f"/{page}"


def session_link(session_id: str, tenant: str | None) -> str:
    return _link("sessions", session=session_id, tenant=tenant or "")


def user_link(user_id: str, tenant: str | None) -> str:
    return _link("user", user=user_id, tenant=tenant or "")


def asked(name: str) -> str | None:
    """The page URL's query parameter `name` (None when absent)."""
    value = st.query_params.get(name)
    return str(value) if value is not None else None


def asked_tenant() -> str | None:
    """`tenant` from the URL: '' (calls without a tenant) becomes None."""
    return asked("tenant") or None
