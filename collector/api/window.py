"""The time window a `/api/v1` request asks for: `start` and `end` query parameters, each
optional, the window half-open [start, end)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Query

from collector.api.timestamps import ApiTime
from warehouse.core.errors import InvalidRequest

DEFAULT_WINDOW = dt.timedelta(days=30)  # what `Start` says
Start = Annotated[
    ApiTime | None,
    Query(description="Window start, inclusive (ISO 8601 with offset). Default: end - 30 days."),
]
End = Annotated[ApiTime | None, Query(description="Window end, exclusive. Default: now.")]


def requested_window(
    start: dt.datetime | None,
    end: dt.datetime | None,
    now: dt.datetime,
    default: dt.timedelta = DEFAULT_WINDOW,
) -> tuple[dt.datetime, dt.datetime]:
    """(start, end) as given, `end` by default `now` and `start` `default` before `end`;
    InvalidRequest (a 422) unless end is after start."""
    end = end or now
    start = start or end - default
    if end <= start:
        raise InvalidRequest("end must be after start")
    return start, end
