"""The Streamlit entry point: settings, the API client, the sidebar filters, the pages.

Served by `spendscope dashboard` (`streamlit run dashboard/app.py`). Each page's errors
are caught here and shown with what to do about them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import streamlit as st

from dashboard.api import ApiClient, ApiError
from dashboard.cached_api import CachedApiClient
from dashboard.filters import sidebar_filters
from dashboard.page import Page, PageContext
from dashboard.settings import DashboardSettings
from dashboard.states import api_failed
from dashboard.views import PAGES


@st.cache_resource
def _client(base_url: str, token: str | None, timeout: float) -> ApiClient:
    return CachedApiClient(base_url, token, timeout)


def main(page_url: str | None = None) -> None:
    """Renders the app; `page_url` renders that page alone (for tests)."""
    st.set_page_config(page_title="spendscope", page_icon=":material/savings:", layout="wide")
    settings = DashboardSettings()
    token = settings.api_token.get_secret_value() if settings.api_token else None
    api = _client(settings.api_url, token, settings.api_timeout_seconds)
    st.sidebar.caption(f"API: {settings.api_url}")
    if st.sidebar.button("Refresh", help="Ask the API again (answers are kept 15 s)."):
        st.cache_data.clear()
    now = dt.datetime.now(dt.UTC)
    try:
        filters = sidebar_filters(api, now)
    except ApiError as exc:
        api_failed(exc)
        return

    def runner(page: Page) -> None:
        with st.spinner("Loading from the API..."):
            try:
                page.render(PageContext(api, filters, now))
            except ApiError as exc:
                api_failed(exc)
                return
        st.caption(f"Data from {settings.api_url} as of {now:%Y-%m-%d %H:%M:%S} UTC.")

    if page_url is not None:
        runner(next(page for page in PAGES if page.url_path == page_url))
        return
    navigation = st.navigation(
        [
            st.Page(_bind(runner, page), title=page.title, icon=page.icon, url_path=page.url_path)
            for page in PAGES
        ]
    )
    navigation.run()


def _bind(runner: Callable[[Page], None], page: Page) -> Callable[[], None]:
    def run() -> None:
        runner(page)

    run.__name__ = f"page_{page.url_path.replace('-', '_')}"
    return run


if __name__ == "__main__":
    main()
