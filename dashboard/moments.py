"""Moments on the dashboard: every timestamp the pages show, in one format.

The API gives ISO 8601 in UTC (`2026-12-07T15:44:04.123456Z`); the pages say "(UTC)" in
their captions, so a moment reads `2026-12-07 15:44:04`, to the second, everywhere.
"""

from __future__ import annotations

import datetime as dt

FORMAT = "%Y-%m-%d %H:%M:%S"


def moment(value: str | dt.datetime | None) -> str:
    """A moment as `2026-12-07 15:44:04` (UTC); '' for none."""
    if value is None or value == "":
        return ""
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return when.strftime(FORMAT)
