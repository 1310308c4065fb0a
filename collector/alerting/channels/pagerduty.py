"""PagerDuty Events API v2: trigger, acknowledge and resolve on one stable `dedup_key`.

`POST /v2/enqueue` answers 202 when it took the event, 400 for an invalid one (never
retried), 429 when throttled and 5xx on its side (both retried). The routing key in the
body is the only credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from collector.alerting.channel import explanation, facts, headline, incident_link
from warehouse.incidents.outbox import OutboxItem

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_LIMIT = 1024
SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


@dataclass(frozen=True)
class PagerDutyChannel:
    routing_key: str
    events_url: str = EVENTS_URL
    source: str = "spendscope"
    dashboard_url: str | None = None
    name: str = "pagerduty"
    min_interval: float = 0.0
    max_unanswered: int = 8  # repeats carry the same dedup_key: PagerDuty folds them

    @property
    def url(self) -> str:
        return self.events_url

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.routing_key,)

    def body(self, item: OutboxItem) -> dict[str, Any]:
        snapshot = item.snapshot
        event: dict[str, Any] = {
            "routing_key": self.routing_key,
            "event_action": item.event,
            "dedup_key": snapshot["dedup_key"],
        }
        if item.event != "trigger":
            return event
        event["payload"] = {
            "summary": headline(snapshot)[:SUMMARY_LIMIT],
            "source": self.source,
            "severity": SEVERITY[item.severity],
            "timestamp": f"{snapshot['last_signal_at']}Z",
            "component": snapshot["series"],
            "group": snapshot.get("tenant_id") or "all tenants",
            "class": snapshot["kind"],
            "custom_details": {
                **{label.lower().replace(" ", "_"): value for label, value in facts(snapshot)},
                "what_changed": explanation(snapshot["details"]),
                "details": snapshot["details"],
                "series": snapshot["series"],
                "incident_id": snapshot["id"],
            },
        }
        event["client"] = "spendscope"
        link = incident_link(self.dashboard_url, item.incident_id)
        if link:
            event["client_url"] = link
            event["links"] = [{"href": link, "text": "Open the incident in spendscope"}]
        return event

    def headers(self, item: OutboxItem) -> dict[str, str]:
        return {}  # the dedup_key, in the body, is PagerDuty's idempotency key

    def delivered(self, response: httpx.Response) -> bool:
        return response.status_code == 202
