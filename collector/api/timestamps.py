"""The times `/api/v1` accepts: timezone-aware, from 1970 up to (not including) 2200.

Ingest stores nothing outside that range (docs/normalization.md), so a window or an
outcome time outside it can only be a client's mistake; refusing it with a 422 that says
so beats the arithmetic overflows (`end - 30 days` in year 1) it would otherwise cause.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def _in_range(value: dt.datetime) -> dt.datetime:
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError("must be from 1970-01-01 up to 2200-01-01 (UTC)")
    return value


ApiTime = Annotated[AwareDatetime, AfterValidator(_in_range)]


def _as_utc(value: dt.datetime) -> dt.datetime:
    return _in_range(value if value.tzinfo else value.replace(tzinfo=dt.UTC))


# For parameters documented as UTC that have always taken times without an offset too:
# those are read as UTC, the others converted to it.
UtcTime = Annotated[dt.datetime, AfterValidator(_as_utc)]
