"""The states a page can be in besides showing data: the API failing, or no data yet."""

from __future__ import annotations

import streamlit as st

from dashboard.api import ApiError

NO_DATA = (
    "Send spans to spendscope: point your apps' `OTEL_EXPORTER_OTLP_ENDPOINT` at its "
    "OTLP port (4318 for HTTP, 4317 for gRPC), or run `make demo` for a populated sample. "
    "New calls show up here within a few seconds."
)


def api_failed(error: ApiError) -> None:
    """Says what went wrong with the API and what to do about it."""
    st.error(f"**The spendscope API did not answer as expected.** {error}")
    st.info(error.hint)


def no_data(what: str) -> None:
    """Nothing to show in the window: says how to get data in, or to widen the filters."""
    st.info(f"**{what}** Widen the time range or clear the filters. {NO_DATA}")


def unpriced_warning(calls: int) -> None:
    if calls:
        st.warning(
            f"{calls:,} calls in this selection are **unpriced** (their model has no price) "
            "and are not in the totals. See *Models and prices* to price them."
        )
