"""A generic webhook: the incident snapshot as JSON, for any receiver (chat bots, ticketing,
a team's own automation). Any 2xx is success; 429 and 5xx are retried, other answers not.

Each notice carries an `Idempotency-Key` header, the same on every retry of that notice and
different for any other (IETF draft-ietf-httpapi-idempotency-key-header: a structured-field
string, so quoted), so a receiver can drop a repeat after an attempt that timed out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from collector.alerting.channel import UrlChannel, explanation, headline, incident_link
from warehouse.incidents.outbox import OutboxItem


@dataclass(frozen=True)
class WebhookChannel(UrlChannel):
    name: str = "webhook"
    max_unanswered: int = 8  # repeats carry the same Idempotency-Key

    def headers(self, item: OutboxItem) -> dict[str, str]:
        return {"Idempotency-Key": f'"{idempotency_key(item)}"'}

    def body(self, item: OutboxItem) -> dict[str, Any]:
        snapshot = item.snapshot
        return {
            "source": "spendscope",
            "event": item.event,
            "severity": item.severity,
            "summary": headline(snapshot),
            "what_changed": explanation(snapshot["details"]),
            "dedup_key": snapshot["dedup_key"],
            "notice_id": item.id,  # also in the Idempotency-Key header
            "incident": {k: v for k, v in snapshot.items() if k != "event"},
            "dashboard_url": incident_link(self.dashboard_url, item.incident_id),
        }

    def delivered(self, response: httpx.Response) -> bool:
        return response.is_success


def idempotency_key(item: OutboxItem) -> str:
    """One per notice (an outbox row), stable across its retries and restarts."""
    return f"spendscope-{item.incident_id}-{item.id}"
