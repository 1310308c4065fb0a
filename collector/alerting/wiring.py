"""Alerting from the settings: the policy the lifecycle job applies (stored in the database,
without secrets, by `warehouse.incidents.policy.store_policy`) and the channels the
dispatcher sends to (with their secrets, in memory)."""

from __future__ import annotations

import socket

from collector.alerting.channel import Channel
from collector.alerting.channels.pagerduty import PagerDutyChannel
from collector.alerting.channels.slack import SlackChannel
from collector.alerting.channels.webhook import WebhookChannel
from collector.settings import Settings
from warehouse.incidents.policy import AlertPolicy


def alert_channels(settings: Settings) -> list[Channel]:
    """The configured channels: a URL or routing key makes one."""
    link = settings.dashboard_url or settings.alert_dashboard_url
    channels: list[Channel] = []
    if settings.slack_webhook_url is not None:
        channels.append(SlackChannel(settings.slack_webhook_url.get_secret_value(), link))
    if settings.pagerduty_routing_key is not None:
        channels.append(
            PagerDutyChannel(
                settings.pagerduty_routing_key.get_secret_value(),
                events_url=settings.pagerduty_events_url,
                source=settings.alert_source or socket.gethostname(),
                dashboard_url=link,
            )
        )
    if settings.alert_webhook_url is not None:
        channels.append(WebhookChannel(settings.alert_webhook_url.get_secret_value(), link))
    return channels


def alert_policy(settings: Settings) -> AlertPolicy:
    return AlertPolicy(
        warning_usd=settings.alert_warning_usd,
        critical_usd=settings.alert_critical_usd,
        quiet_minutes=dict(settings.alert_quiet_minutes),
        cooldown_minutes=dict(settings.alert_cooldown_minutes),
        routes={
            severity: tuple(c for c in channels.split("+") if c)
            for severity, channels in settings.alert_routes.items()
        },
        channels=frozenset(channel.name for channel in alert_channels(settings)),
    )
