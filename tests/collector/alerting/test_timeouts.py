"""Channels that answer after the delivery timeout, against real loopback stand-ins that take
longer to answer than the dispatcher waits. A timeout is not proof of non-delivery (each of
these requests reached the stand-in), so: the notice is retried with a backoff that starts at
the timeout and doubles, up to a bounded number of unanswered attempts per channel (Slack 3,
it has no idempotency key; PagerDuty and the webhook 8, their repeats carry the same
`dedup_key` / `Idempotency-Key`), and the webhook's `Idempotency-Key` is one per notice,
the same on every retry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from collector.alerting.channels.pagerduty import PagerDutyChannel
from collector.alerting.channels.slack import SlackChannel
from collector.alerting.channels.webhook import WebhookChannel
from collector.alerting.dispatcher import AlertDispatcher, DeliveryMetrics
from sample_data.harness.alert_receivers import Receiver, failure
from tests.warehouse.incidents.test_incidents import MINUTE, T0, Lifecycle, signal
from warehouse.incidents.policy import AlertPolicy
from warehouse.store.database import Database

TIMEOUT = 0.4  # seconds the dispatcher waits for an answer
LATE = 1.0  # seconds the stand-ins take to answer
SECOND = dt.timedelta(seconds=1)
NOW = (T0 + MINUTE).replace(tzinfo=dt.UTC)
EVERY_CHANNEL = AlertPolicy(channels=frozenset({"slack", "pagerduty", "webhook"}))


class Channels:
    def __init__(self, database: Database) -> None:
        self.slack = Receiver("slack").up()
        self.pagerduty = Receiver("pagerduty").up()
        self.webhook = Receiver("webhook").up()
        self.life = Lifecycle(database, EVERY_CHANNEL)
        self.dispatcher = AlertDispatcher(
            database,
            [
                SlackChannel(self.slack.url("/services/T/B/secret"), min_interval=0),
                PagerDutyChannel("k" * 32, self.pagerduty.url("/v2/enqueue")),
                WebhookChannel(self.webhook.url("/hook")),
            ],
            DeliveryMetrics(CollectorRegistry()),
            timeout_seconds=TIMEOUT,
            initial_backoff_seconds=0.1,
            max_backoff_seconds=60,
            seed=5,
        )

    def receivers(self) -> tuple[Receiver, ...]:
        return self.slack, self.pagerduty, self.webhook

    def attempts(self, channel: str) -> list[tuple[Any, ...]]:
        return self.life.cursor.execute(
            "SELECT outcome, error, started_at, next_attempt_at FROM alert_deliveries"
            " WHERE channel = ? ORDER BY id",
            [channel],
        ).fetchall()

    def status(self, channel: str, event: str) -> str:
        row = self.life.cursor.execute(
            "SELECT status FROM alert_outbox WHERE channel = ? AND event = ?", [channel, event]
        ).fetchone()
        assert row is not None
        return str(row[0])


@pytest.fixture
def channels(database: Database) -> Iterator[Channels]:
    c = Channels(database)
    yield c
    c.dispatcher.stop(2)
    for receiver in c.receivers():
        receiver.down()


def test_a_late_channel_is_backed_off_and_its_repeats_are_bounded(channels: Channels) -> None:
    for receiver in channels.receivers():
        receiver.delay = LATE  # every request arrives; every answer comes after the timeout
    channels.life.fire(signal(T0, "400"))  # critical: all three channels
    now = NOW
    for _ in range(60):  # three simulated minutes, a pass every 3 s
        channels.dispatcher.deliver_due(now)
        now += 3 * SECOND

    # Slack: at most 3 copies, then the notice is given up, saying why.
    assert len(channels.slack.requests) == 3
    assert channels.status("slack", "trigger") == "failed"
    *retries, last = channels.attempts("slack")
    assert [a[0] for a in retries] == ["retry", "retry"] and last[0] == "failed"
    assert last[1] == (
        "ReadTimeout: no answer within 0.4 s, 3 times: given up (slack may have received it"
        " up to 3 times)"
    )
    # PagerDuty and the webhook: 8 at most, each repeat with the same key.
    for receiver in (channels.pagerduty, channels.webhook):
        assert len(receiver.requests) == 8
    assert {b["dedup_key"] for b in channels.pagerduty.bodies()} == {
        channels.pagerduty.bodies()[0]["dedup_key"]
    }
    keys = channels.webhook.header("Idempotency-Key")
    assert keys[0] is not None and set(keys) == {keys[0]}

    # After a timeout the wait starts at the timeout and doubles (jitter: 50-100 %).
    for channel in ("slack", "pagerduty", "webhook"):
        tries = [a for a in channels.attempts(channel) if a[0] == "retry"]
        assert all(a[1].startswith("ReadTimeout: no answer within 0.4 s") for a in tries)
        waits = [(a[3] - a[2]).total_seconds() for a in tries]
        assert all(w >= 0.5 * TIMEOUT * 2**k for k, w in enumerate(waits)), (channel, waits)

    # Given up, the trigger no longer holds the resolve, which carries a key of its own.
    for receiver in channels.receivers():
        receiver.delay = 0
    channels.life.run(T0 + EVERY_CHANNEL.quiet("spend_anomaly"))
    channels.dispatcher.deliver_due(now + EVERY_CHANNEL.quiet("spend_anomaly"))
    assert [channels.status(c, "resolve") for c in ("slack", "pagerduty", "webhook")] == [
        "sent"
    ] * 3
    resolve_key = channels.webhook.header("Idempotency-Key")[-1]
    assert resolve_key is not None and resolve_key != keys[0]
    assert channels.pagerduty.bodies()[-1]["event_action"] == "resolve"


def test_the_webhook_idempotency_key_is_one_per_notice_and_the_same_on_retries(
    channels: Channels,
) -> None:
    channels.webhook.answer(failure("webhook", 503))
    channels.life.fire(signal(T0, "50"))  # warning: Slack and the webhook
    channels.dispatcher.deliver_due(NOW)
    channels.dispatcher.deliver_due(NOW + 10 * SECOND)
    assert [r.get("event") for r in channels.webhook.bodies()] == ["trigger", "trigger"]
    first, retried = channels.webhook.header("Idempotency-Key")
    notice = channels.webhook.bodies()[0]
    incident = notice["incident"]["id"]
    # A structured-field string, as the IETF draft (httpapi-idempotency-key-header) has it.
    assert first == retried == f'"spendscope-{incident}-{notice["notice_id"]}"'
    assert channels.slack.header("Idempotency-Key") == [None]  # Slack has no such thing
