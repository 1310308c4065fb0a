"""The one UTC boundary: DuckDB returns naive timestamps that are UTC by the schema's rule.

Every value read from a `TIMESTAMP` column becomes timezone-aware here, and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from typing import overload


@overload
def utc(value: dt.datetime) -> dt.datetime: ...
@overload
def utc(value: None) -> None: ...
def utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored (naive, UTC) timestamp as an aware one; an aware one unchanged; None stays None."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)
