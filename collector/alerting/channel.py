"""What an alert channel is, and what every alert says.

A channel (`collector.alerting.channels.slack`, `collector.alerting.channels.pagerduty`,
`collector.alerting.channels.webhook`) turns an outbox item into one HTTP POST (body and
headers) and judges the answer; the dispatcher (`collector.alerting.dispatcher`) does the
sending, retrying and recording. The facts and the explanation below are shared so that a
page, a Slack message and a webhook say the same thing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from warehouse.incidents.outbox import OutboxItem

REDACTED = "***"


class Channel(Protocol):
    @property
    def name(self) -> str:
        """slack, pagerduty or webhook: the name routes and the outbox use."""
        ...

    @property
    def url(self) -> str: ...

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must never reach a log, the delivery log or the API."""
        ...

    @property
    def min_interval(self) -> float:
        """Seconds between two messages (Slack: one per second per webhook)."""
        ...

    @property
    def max_unanswered(self) -> int:
        """Attempts of one notice that may go unanswered (a timeout after the request was
        sent) before it is given up: each may have been delivered, so this bounds the copies
        a slow channel can get (and, for a channel without an idempotency key, shows)."""
        ...

    def body(self, item: OutboxItem) -> dict[str, Any]: ...

    def headers(self, item: OutboxItem) -> dict[str, str]:
        """Request headers of the notice besides the JSON ones (an idempotency key)."""
        ...

    def delivered(self, response: httpx.Response) -> bool:
        """Whether the answer means the channel took the message."""
        ...


@dataclass(frozen=True)
class UrlChannel:
    """A channel whose URL is its secret (Slack incoming webhooks, the generic webhook)."""

    webhook_url: str
    dashboard_url: str | None = None
    min_interval: float = 0.0
    max_unanswered: int = 3

    @property
    def url(self) -> str:
        return self.webhook_url

    def headers(self, item: OutboxItem) -> dict[str, str]:
        return {}

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.webhook_url,)


def incident_link(dashboard_url: str | None, incident_id: int) -> str | None:
    """Where the incident is on the dashboard (its Alerts page, the incident chosen), from
    the dashboard's public URL (SPENDSCOPE_DASHBOARD_URL); None without one."""
    if not dashboard_url:
        return None
    return f"{dashboard_url.rstrip('/')}/alerts?incident={incident_id}"


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` without any secret; for a URL, without its path either (where the secret of a
    webhook URL lives), however an error message quotes it."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
            path = urlsplit(secret).path
            if len(path) > 1:
                text = text.replace(path, f"/{REDACTED}")
    return text


def redacted_url(url: str) -> str:
    """A webhook URL is a secret in its path: keep the scheme and host only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/{REDACTED}" if parts.netloc else REDACTED


def usd(value: Any) -> str:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return f"${amount:,.2f}" if abs(amount) >= 1 else f"${amount.normalize():f}"


def _when(value: Any) -> str:
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M UTC")
        except ValueError:
            return value
    return str(value)


def headline(snapshot: Mapping[str, Any]) -> str:
    """The one line of the alert: what happened to which series."""
    event = snapshot["event"]
    if event == "resolve":
        return f"Resolved: {snapshot['title']}"
    if event == "acknowledge":
        return f"Acknowledged: {snapshot['title']}"
    return f"[{str(snapshot['severity']).upper()}] {snapshot['title']}"


def facts(snapshot: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The key figures, labelled, in reading order."""
    found = [
        ("Actual", usd(snapshot["actual_usd"])),
        ("Expected", usd(snapshot["expected_usd"])),
        ("Impact", usd(snapshot["impact_usd"])),
        ("Peak impact", usd(snapshot["peak_impact_usd"])),
        ("Window", f"{_when(snapshot['window_start'])} to {_when(snapshot['window_end'])}"),
        ("Signals", f"{snapshot['signal_count']} since {_when(snapshot['opened_at'])}"),
    ]
    if snapshot.get("tenant_id"):
        found.append(("Tenant", str(snapshot["tenant_id"])))
    found.append(("Kind", f"{snapshot['kind']} ({snapshot['direction']})"))
    return found


def _share_or_usd(value: Any, shares: bool) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if shares and isinstance(value, int | float):
        return f"{value:.0%}"
    return usd(value) if isinstance(value, int | float | str | Decimal) else str(value)


def explanation(details: Mapping[str, Any]) -> list[str]:
    """`details["explanation"]` (component -> share of the excess, or dollars) as lines,
    largest first; other scalar details as `key: value` lines."""
    lines: list[str] = []
    parts = details.get("explanation")
    if isinstance(parts, Mapping) and parts:
        numbers = [v for v in parts.values() if isinstance(v, int | float)]
        shares = len(numbers) == len(parts) and all(abs(v) <= 1.5 for v in numbers)

        def weight(item: tuple[str, Any]) -> float:
            try:
                return -abs(float(item[1]))
            except (TypeError, ValueError):
                return 0.0

        for name, value in sorted(parts.items(), key=weight):
            lines.append(f"{str(name).replace('_', ' ')}: {_share_or_usd(value, shares)}")
    elif isinstance(parts, str):
        lines.append(parts)
    return lines


def other_details(details: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The details that are neither the explanation nor nested: dimensions, rates."""
    return [
        (str(k), str(v))
        for k, v in details.items()
        if k != "explanation" and isinstance(v, str | int | float | bool)
    ]
