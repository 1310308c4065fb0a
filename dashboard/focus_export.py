"""The FOCUS export as a download: the window's priced calls as a FOCUS 1.2 file (CSV or
Parquet), the bytes `GET /api/v1/export/focus` sends (docs/focus.md).

The file is asked for only when the user prepares it (an export can be large), then handed
to the browser as it came; the calls the API left out (unpriced, no reported cost) are
counted beside it.
"""

from __future__ import annotations

import streamlit as st

from dashboard.api import ApiClient, FocusFile
from dashboard.filters import Filters
from dashboard.moments import moment

GRAINS = {"day": "Daily rows", "hour": "Hourly rows"}
FORMATS = {"csv": "CSV", "parquet": "Parquet"}


def render(api: ApiClient, filters: Filters) -> None:
    st.subheader("Export for FinOps tools (FOCUS 1.2)")
    st.caption(
        f"Every priced call of {filters.label.lower()}, one row per charge period x provider "
        "x model x feature x tenant x SKU price, as a FOCUS 1.2 file any FOCUS-aware tool reads "
        "(docs/focus.md). The window is widened to whole days or hours; the file holds "
        "every tenant this token may read (the environment and tenant filters do not apply)."
    )
    cols = st.columns(3)
    grain = cols[0].selectbox(
        "Grain", list(GRAINS), format_func=GRAINS.__getitem__, key="focus_grain"
    )
    file_format = cols[1].selectbox(
        "Format", list(FORMATS), format_func=FORMATS.__getitem__, key="focus_format"
    )
    asked = (filters.start, filters.end, grain, file_format)
    if cols[2].button("Prepare the file", key="focus_prepare"):
        st.session_state["focus_asked"] = asked
    if st.session_state.get("focus_asked") != asked:
        return
    _download(api.focus_export(filters.start, filters.end, grain, file_format))


def _download(export: FocusFile) -> None:
    st.download_button(
        f"Download {export.file_name}",
        data=export.content,
        file_name=export.file_name,
        mime=export.media_type,
        key="focus_download",
    )
    st.caption(
        f"{export.rows:,} rows, {moment(export.window_start)} to {moment(export.window_end)} (UTC)."
    )
    if export.left_out_calls:
        st.warning(
            f"{export.left_out_calls:,} calls are **left out** of the file: their model has no "
            "price and they reported no cost, so there is no cost to state. Price the model "
            "(*Models and prices*, docs/pricing.md) to include them."
        )
