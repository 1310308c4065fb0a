"""Slack incoming webhooks: one Block Kit message per notice.

Success is HTTP 200 with the body `ok`; Slack answers 400/403/404/410 with an error string
(`invalid_payload`, `channel_not_found`, `no_service`...) that retrying cannot fix. Block Kit
limits: header text <= 150 characters, section text <= 3000, <= 10 fields of <= 2000.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from collector.alerting.channel import (
    UrlChannel,
    explanation,
    facts,
    headline,
    incident_link,
    other_details,
    usd,
)
from warehouse.incidents.outbox import OutboxItem

HEADER_LIMIT = 150
TEXT_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_FIELDS = 10
EMOJI = {
    "trigger": {
        "critical": ":rotating_light:",
        "warning": ":warning:",
        "info": ":information_source:",
    },
    "resolve": ":white_check_mark:",
    "acknowledge": ":eyes:",
}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class SlackChannel(UrlChannel):
    name: str = "slack"
    min_interval: float = 1.0  # "1 per second; short bursts allowed, without guarantee"
    max_unanswered: int = 3  # no idempotency key: a late answer may mean a message shown

    def body(self, item: OutboxItem) -> dict[str, Any]:
        return message(item.snapshot, incident_link(self.dashboard_url, item.incident_id))

    def delivered(self, response: httpx.Response) -> bool:
        return response.status_code == 200


def message(snapshot: dict[str, Any], dashboard_url: str | None = None) -> dict[str, Any]:
    event = snapshot["event"]
    emoji = EMOJI[event]
    if isinstance(emoji, dict):
        emoji = emoji.get(snapshot["severity"], "")
    title = headline(snapshot)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _clip(f"{emoji} {title}", HEADER_LIMIT)},
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _clip(f"*{label}*\n{value}", FIELD_LIMIT)}
                for label, value in facts(snapshot)[:MAX_FIELDS]
            ],
        },
    ]
    lines = explanation(snapshot["details"])
    if lines:
        text = "*What changed*\n" + "\n".join(f"• {line}" for line in lines)
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, TEXT_LIMIT)}}
        )
    grouped = snapshot["details"].get("grouped") or []
    if grouped:  # the related series of the same cause (warehouse.incidents.grouping)
        text = "*Also firing, same cause (not added: they overlap)*\n" + "\n".join(
            f"• `{g['series']}` {usd(g['impact_usd'])}" for g in grouped
        )
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, TEXT_LIMIT)}}
        )
    extra = other_details(snapshot["details"])
    context = [f"series `{snapshot['series']}`", f"incident #{snapshot['id']}"]
    context += [f"{k}: {v}" for k, v in extra]
    if snapshot.get("acknowledged_by"):
        context.append(f"acknowledged by {snapshot['acknowledged_by']}")
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": _clip(" · ".join(context), TEXT_LIMIT)}],
        }
    )
    if dashboard_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open the incident"},
                        "url": dashboard_url,
                    }
                ],
            }
        )
    return {"text": title, "blocks": blocks}
