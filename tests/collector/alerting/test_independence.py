"""Channels are delivered independently: a hung Slack (a real loopback server that takes the
request and never answers) holds neither PagerDuty nor the webhook, measured on the running
dispatcher threads, and does not hold its shutdown beyond the attempt under way."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry

from collector.alerting.channels.pagerduty import PagerDutyChannel
from collector.alerting.channels.slack import SlackChannel
from collector.alerting.channels.webhook import WebhookChannel
from collector.alerting.dispatcher import AlertDispatcher, DeliveryMetrics
from sample_data.harness.alert_receivers import Receiver
from tests.e2e.test_alerts_e2e import wait_for
from tests.warehouse.incidents.test_incidents import T0, Lifecycle, signal
from warehouse.incidents.policy import AlertPolicy
from warehouse.store.database import Database

TIMEOUT = 3.0


def test_a_hung_slack_holds_neither_pagerduty_nor_the_webhook(database: Database) -> None:
    slack = Receiver("slack").up()
    pagerduty = Receiver("pagerduty").up()
    webhook = Receiver("webhook").up()
    slack.delay = 60.0  # takes the request, never answers (until it goes down)
    life = Lifecycle(database, AlertPolicy(channels=frozenset({"slack", "pagerduty", "webhook"})))
    # Three incidents, so Slack's notices come before others in the outbox whatever the order
    # within an incident: critical (all three channels), warning (Slack, webhook), critical.
    life.fire(
        signal(T0, "400", series="a"), signal(T0, "50", series="b"), signal(T0, "300", series="c")
    )
    dispatcher = AlertDispatcher(
        database,
        [
            SlackChannel(slack.url("/services/T/B/secret"), min_interval=0),
            PagerDutyChannel("k" * 32, pagerduty.url("/v2/enqueue")),
            WebhookChannel(webhook.url("/hook")),
        ],
        DeliveryMetrics(CollectorRegistry()),
        poll_seconds=0.05,
        timeout_seconds=TIMEOUT,
        initial_backoff_seconds=0.2,
        max_backoff_seconds=1,
    )
    try:
        started = time.monotonic()
        dispatcher.start()
        wait_for(lambda: len(pagerduty.requests) == 2 and len(webhook.requests) == 3, "others")
        latest = max(r["at"] for r in pagerduty.requests + webhook.requests) - started
        assert latest < 2.0, f"PagerDuty and the webhook waited {latest:.2f} s for Slack"
        assert len(slack.requests) == 1  # its first notice, still waiting for an answer

        stopping = time.monotonic()
        assert dispatcher.stop(TIMEOUT + 1)  # after the attempt under way, within its timeout
        assert time.monotonic() - stopping <= TIMEOUT + 1
        statuses = life.cursor.execute(
            "SELECT channel, count(*) FILTER (status = 'sent') FROM alert_outbox GROUP BY ALL"
            " ORDER BY channel"
        ).fetchall()
        assert statuses == [("pagerduty", 2), ("slack", 0), ("webhook", 3)]
    finally:
        dispatcher.stop(1)
        for receiver in (slack, pagerduty, webhook):
            receiver.down()
