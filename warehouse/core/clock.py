"""The one UTC boundary: DuckDB returns naive timestamps that are UTC by the schema's rule.

Every value read from a `TIMESTAMP` column becomes timezone-aware here (`utc`), and every aware
time written to one becomes naive UTC here (`naive_utc`).
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


def naive_utc(value: dt.datetime) -> dt.datetime:
    """An aware time as the naive UTC wall time a `TIMESTAMP` column stores; a naive one is
    taken to be UTC already and returned unchanged."""
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
