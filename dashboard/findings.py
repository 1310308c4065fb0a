"""What the detectors found, as the pages show it: the kinds' names, a finding's row, a
budget's row, and what to do when there are none. Shared by the overview, the sessions
page and the anomalies page."""

from __future__ import annotations

from typing import Any

from dashboard.money import usd

KINDS = {
    "spend_anomaly": "spend anomaly",
    "runaway_session": "runaway session",
    "budget": "budget",
}
NO_BUDGETS = (
    "No budgets yet: add `[[budgets]]` to `detection.toml` in the data directory "
    "(docs/anomalies.md), then `POST /api/v1/budgets/reload` or restart the service."
)


def finding_row(finding: dict[str, Any]) -> dict[str, Any]:
    return {
        "finding": finding["title"],
        "kind": KINDS[finding["kind"]],
        "firing": finding["firing"],
        "actual": usd(finding["actual_usd"]),
        "usual": usd(finding["expected_usd"]),
        "projected impact": usd(finding["impact_usd"]),
        "tenant": finding["tenant_id"],
        "last found": finding["last_detected_at"],
        "series": finding["series"],
    }


def budget_row(budget: dict[str, Any]) -> dict[str, Any]:
    return {
        "budget": budget["name"],
        "of": budget["value"] or budget["scope"],
        "period": budget["period"],
        "spend": usd(budget["spend_usd"]),
        "amount": usd(budget["amount_usd"]),
        "used": f"{budget['percent']:.1f}%",
        "forecast, period end": usd(budget["forecast_usd"]),
        "overrun forecast": budget["forecast_overrun"],
        "threshold crossed": _percent(budget["threshold_crossed"]),
        "firing": budget["firing"],
    }


def details_text(value: Any) -> str | None:
    """A figure of a finding's `details` (a JSON number or string) as text for `usd`."""
    return None if value is None else str(value)


def _percent(value: float | None) -> str:
    return "none" if value is None else f"{value:g}%"
