"""The states a page can be in besides showing data: the API failing, or no data yet."""

from __future__ import annotations

import streamlit as st

from dashboard.api import ApiError
from dashboard.filters import Filters

NO_DATA = (
    "Send spans to spendscope: point your apps' `OTEL_EXPORTER_OTLP_ENDPOINT` at its "
    "OTLP port (4318 for HTTP, 4317 for gRPC), or run `make demo` for a populated sample. "
    "New calls show up here within a few seconds."
)


def api_failed(error: ApiError) -> None:
    """Says what went wrong with the API and what to do about it."""
    st.error(f"**The spendscope API did not answer as expected.** {error}")
    st.info(error.hint)


def not_allowed(error: ApiError, what: str) -> None:
    """A part of a page the token may not read (`ApiForbidden`): says so, the rest stays."""
    st.warning(f"**{what}** {error}")
    st.info(error.hint)


def filters_do_not_apply(filters: Filters, why: str) -> None:
    """Says, when an environment or tenant is chosen, that this page shows everything."""
    if filters.filtered:
        st.warning(f"{why}: the environment and tenant filters do not apply on this page.")


def no_data(what: str) -> None:
    """Nothing to show in the window: says how to get data in, or to widen the filters."""
    st.info(f"**{what}** Widen the time range or clear the filters. {NO_DATA}")


def unpriced_warning(calls: int) -> None:
    if calls:
        st.warning(
            f"{calls:,} calls in this selection are **unpriced** (their model has no price) "
            "and are not in the totals. See *Models and prices* to price them."
        )
