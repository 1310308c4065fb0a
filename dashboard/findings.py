"""What the detectors found, as the pages show it: the kinds' names, a finding's row, a
budget's row, and what to do when there are none. Shared by the overview, the sessions
page and the anomalies page."""

from __future__ import annotations

from typing import Any

from dashboard.moments import moment
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
        "last found": moment(finding["last_detected_at"]),
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


def reasons_text(reasons: list[dict[str, Any]] | None) -> str:
    """A runaway session's reasons, each named once: `peers (calls 6.2x, spend 4.1x), loop
    (38 repeats)` rather than `peers, peers, loop`."""
    measures: dict[str, list[str]] = {}
    for reason in reasons or []:
        shown = measures.setdefault(str(reason["reason"]), [])
        if reason.get("measure") is not None:
            times = f" {reason['times']}x" if reason.get("times") is not None else ""
            shown.append(f"{str(reason['measure']).replace('_', ' ')}{times}")
        elif reason.get("repeats") is not None:
            shown.append(f"{reason['repeats']} repeats")
        elif reason.get("budget_usd") is not None:
            shown.append(f"over ${reason['budget_usd']}")
    return ", ".join(
        f"{name} ({', '.join(shown)})" if shown else name for name, shown in measures.items()
    )


def details_text(value: Any) -> str | None:
    """A figure of a finding's `details` (a JSON number or string) as text for `usd`."""
    return None if value is None else str(value)


def _percent(value: float | None) -> str:
    return "none" if value is None else f"{value:g}%"
