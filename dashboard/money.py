"""Money on the dashboard: the API's decimal strings, exact until they are displayed."""

from __future__ import annotations

from decimal import Decimal


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
    if calls and unpriced_calls == calls:
        return "unpriced"
    if unpriced_calls:
        return f"{usd(cost)} + {unpriced_calls:,} unpriced"
    return usd(cost)
