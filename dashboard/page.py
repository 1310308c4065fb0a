"""What a dashboard page is: a title, a URL and a function that renders it.

Adding a page is one module in `dashboard/views/` that defines `PAGE`, and one line in
`dashboard/views/__init__.py`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from dashboard.api import ApiClient
from dashboard.filters import Filters


@dataclass(frozen=True)
class PageContext:
    """What every page gets: the API, the sidebar's filters and the time of this run."""

    api: ApiClient
    filters: Filters
    now: dt.datetime


@dataclass(frozen=True)
class Page:
    title: str
    icon: str
    url_path: str
    render: Callable[[PageContext], None]
