"""A generic webhook: the incident snapshot as JSON, for any receiver (chat bots, ticketing,
a team's own automation). Any 2xx is success; 429 and 5xx are retried, other answers not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from collector.alerting.channel import UrlChannel, explanation, headline
from warehouse.incidents.outbox import OutboxItem


@dataclass(frozen=True)
class WebhookChannel(UrlChannel):
    name: str = "webhook"

    def body(self, item: OutboxItem) -> dict[str, Any]:
        snapshot = item.snapshot
        return {
            "source": "spendscope",
            "event": item.event,
            "severity": item.severity,
            "summary": headline(snapshot),
            "what_changed": explanation(snapshot["details"]),
            "dedup_key": snapshot["dedup_key"],
            "notice_id": item.id,  # a receiver can drop a notice it has already seen
            "incident": {k: v for k, v in snapshot.items() if k != "event"},
            "dashboard_url": self.dashboard_url,
        }

    def delivered(self, response: httpx.Response) -> bool:
        return response.is_success
