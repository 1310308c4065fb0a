"""Money on the dashboard: the API's decimal strings, exact until they are displayed.

Unknown is unknown: the API gives a null cost for calls none of which is priced, and counts
them (`unpriced_calls`); a page shows such a total as "unpriced", or "$12.30 + 4 unpriced
calls" when some are priced, never as $0.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def dollars(value: str | Decimal | None) -> Decimal | None:
    """The API's decimal string (or null) as a Decimal."""
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(value)


def usd(value: str | Decimal | None) -> str:
    """`$1,234.57` for amounts from a dollar up, more digits below (`$0.0042`), `n/a` for
    a ratio the API could not compute (a zero denominator)."""
    amount = dollars(value)
    if amount is None:
        return "n/a"
    if abs(amount) >= 1 or amount == 0:
        return f"${amount:,.2f}"
    if abs(amount) >= Decimal("0.01"):
        return f"${amount:,.4f}"
    return f"${amount:,.6f}"


def share(rate: float | None) -> str:
    """A share as a percentage; small ones keep their first digits (an almost idle GPU is
    not "0.0%" busy)."""
    if rate is None:
        return "n/a"
    if 0 < rate < 0.00001:
        return "<0.001%"
    return f"{rate:.3%}" if 0 < rate < 0.001 else f"{rate:.1%}"


def priced_cost(cost: str | Decimal | None, calls: int, unpriced_calls: int) -> str:
    """A cost that says when (some of) its calls have no price, instead of showing $0."""
    if cost is None or (calls and unpriced_calls >= calls):
        return "unpriced"
    if unpriced_calls:
        return f"{usd(cost)} + {unpriced_calls:,} unpriced call{'s' if unpriced_calls > 1 else ''}"
    return usd(cost)


def total(usage: Mapping[str, Any], key: str = "cost_usd") -> str:
    """`priced_cost` of an API aggregate (a row or totals with `calls`, `unpriced_calls`)."""
    return priced_cost(usage[key], usage["calls"], usage["unpriced_calls"])


def lower_bound(value: str | Decimal | None, usage: Mapping[str, Any]) -> str:
    """A ratio of the priced cost over every session or value unit: "unpriced" when no call
    is priced, "≥ $0.42" while some are not (the unpriced calls' cost is missing from it)."""
    if usage["cost_usd"] is None:
        return "unpriced"
    if value is not None and usage["unpriced_calls"]:
        return f"≥ {usd(value)}"
    return usd(value)


def chart_amount(value: str | Decimal | None) -> float:
    """An amount as a chart's scale: an unknown cost draws nothing (tables mark it)."""
    return float(value) if value is not None else 0.0
