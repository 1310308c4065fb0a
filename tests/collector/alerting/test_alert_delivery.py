"""Alert delivery against real loopback servers that answer like Slack and PagerDuty: the real
payloads, retries only on 429 / 5xx / connection errors (with Retry-After and backoff), none
on 4xx, no duplicate pages, a resolve after its trigger on one dedup_key, a dead channel
retried until it recovers, every attempt stored, no secret in any stored error."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from collector.alerting.channels.pagerduty import PagerDutyChannel
from collector.alerting.channels.slack import SlackChannel
from collector.alerting.channels.webhook import WebhookChannel
from collector.alerting.dispatcher import AlertDispatcher, DeliveryMetrics, backoff, retry_after
from sample_data.harness.alert_receivers import Receiver, failure
from tests.warehouse.incidents.test_incidents import MINUTE, T0, Lifecycle, signal
from warehouse.incidents.policy import AlertPolicy
from warehouse.store.database import Database

ROUTING_KEY = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12"
SLACK_PATH = "/services/T000/B000/XXXXSECRETXXXX"
SECOND = dt.timedelta(seconds=1)
NOW = (T0 + MINUTE).replace(tzinfo=dt.UTC)


class Setup:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.slack = Receiver("slack").up()
        self.pagerduty = Receiver("pagerduty").up()
        self.webhook = Receiver("webhook").up()
        self.life = Lifecycle(
            database,
            AlertPolicy(channels=frozenset({"slack", "pagerduty", "webhook"})),
        )
        self.metrics = DeliveryMetrics(CollectorRegistry())
        self.dispatcher = AlertDispatcher(
            database,
            [
                SlackChannel(self.slack.url(SLACK_PATH), "http://dash.example/", min_interval=0),
                PagerDutyChannel(ROUTING_KEY, self.pagerduty.url("/v2/enqueue"), source="test"),
                WebhookChannel(self.webhook.url("/hook")),
            ],
            self.metrics,
            initial_backoff_seconds=2,
            max_backoff_seconds=60,
            timeout_seconds=5,
            seed=7,
        )

    def close(self) -> None:
        self.dispatcher.stop(1)
        for receiver in (self.slack, self.pagerduty, self.webhook):
            receiver.down()

    def outbox(self) -> list[tuple[Any, ...]]:
        return self.life.cursor.execute(
            "SELECT channel, event, status, attempts FROM alert_outbox ORDER BY id"
        ).fetchall()

    def attempts(self, channel: str) -> list[tuple[Any, ...]]:
        return self.life.cursor.execute(
            "SELECT attempt, status_code, outcome, error, next_attempt_at FROM alert_deliveries"
            " WHERE channel = ? ORDER BY id",
            [channel],
        ).fetchall()


@pytest.fixture
def setup(database: Database) -> Iterator[Setup]:
    s = Setup(database)
    yield s
    s.close()


def test_slack_pagerduty_and_webhook_receive_the_real_payloads(setup: Setup) -> None:
    setup.life.fire(signal(T0, "400"))  # critical: every channel
    assert setup.dispatcher.deliver_due(NOW) == 3
    assert setup.dispatcher.deliver_due(NOW) == 0  # sent once

    (slack,) = setup.slack.bodies()
    assert setup.slack.requests[0]["path"] == SLACK_PATH
    assert slack["text"] == "[CRITICAL] spend:hour:feature=search is $400 over"
    header, figures, changed, context, actions = slack["blocks"]
    assert header["type"] == "header" and "CRITICAL" in header["text"]["text"]
    fields = [f["text"] for f in figures["fields"]]
    assert "*Actual*\n$420.00" in fields and "*Impact*\n$400.00" in fields
    assert "*Tenant*\nacme" in fields
    assert changed["text"]["text"] == "*What changed*\n• calls: 80%\n• tokens per call: 20%"
    assert "series `spend:hour:feature=search`" in context["elements"][0]["text"]
    # The button opens this incident on the dashboard.
    incident = setup.pagerduty.bodies()[0]["payload"]["custom_details"]["incident_id"]
    assert actions["elements"][0]["url"] == f"http://dash.example/alerts?incident={incident}"
    assert len(header["text"]["text"]) <= 150

    (trigger,) = setup.pagerduty.bodies()
    assert trigger["routing_key"] == ROUTING_KEY
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"].startswith("spendscope-spend_anomaly-")
    payload = trigger["payload"]
    assert (payload["severity"], payload["source"], payload["class"]) == (
        "critical", "test", "spend_anomaly"
    )  # fmt: skip
    assert payload["summary"] == slack["text"]
    assert payload["timestamp"] == "2026-11-02T10:00:00Z"
    assert payload["custom_details"]["impact"] == "$400.00"
    assert payload["custom_details"]["what_changed"] == ["calls: 80%", "tokens per call: 20%"]
    assert payload["custom_details"]["details"]["feature"] == "search"

    (hook,) = setup.webhook.bodies()
    assert (hook["event"], hook["severity"], hook["dedup_key"]) == (
        "trigger", "critical", trigger["dedup_key"]
    )  # fmt: skip
    assert hook["incident"]["impact_usd"] == "400"

    # Quiet: resolved, on the same dedup_key, after the trigger.
    setup.life.run(T0 + AlertPolicy().quiet("spend_anomaly"))
    later = NOW + AlertPolicy().quiet("spend_anomaly")
    assert setup.dispatcher.deliver_due(later) == 3
    first, resolve = setup.pagerduty.bodies()
    assert resolve == {
        "routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": first["dedup_key"]
    }  # fmt: skip
    assert setup.slack.bodies()[1]["text"].startswith("Resolved: ")
    assert [status for _, _, status, _ in setup.outbox()] == ["sent"] * 6
    assert setup.attempts("pagerduty") == [
        (1, 202, "sent", None, None),
        (1, 202, "sent", None, None),
    ]
    sent = setup.metrics.attempts.labels("slack", "sent")._value.get()
    assert sent == 2


def test_429_waits_for_retry_after_and_the_resolve_waits_for_its_trigger(setup: Setup) -> None:
    setup.life.fire(signal(T0, "400"))
    setup.life.run(T0 + AlertPolicy().quiet("spend_anomaly"))  # resolved before any delivery
    now = NOW + AlertPolicy().quiet("spend_anomaly")
    setup.pagerduty.answer(failure("pagerduty", 429, retry_after="30"))
    assert setup.dispatcher.deliver_due(now) == 3  # each channel's trigger, not the resolves
    ((_, status, outcome, _, retry_at),) = setup.attempts("pagerduty")
    assert (status, outcome) == (429, "retry")
    assert retry_at >= (now + 30 * SECOND).replace(tzinfo=None)

    assert setup.dispatcher.deliver_due(now + 20 * SECOND) == 2  # slack + webhook resolves
    assert len(setup.pagerduty.requests) == 1  # neither the retry nor the resolve yet
    assert setup.dispatcher.deliver_due(now + 31 * SECOND) == 1  # the trigger, alone
    assert setup.dispatcher.deliver_due(now + 32 * SECOND) == 1  # then its resolve
    actions = [b["event_action"] for b in setup.pagerduty.bodies()]
    assert actions == ["trigger", "trigger", "resolve"]  # the throttled one, then one each
    assert len({b["dedup_key"] for b in setup.pagerduty.bodies()}) == 1


def test_500_is_retried_with_backoff_and_400_never(setup: Setup) -> None:
    setup.slack.answer(failure("slack", 500), failure("slack", 503))
    setup.webhook.answer(failure("webhook", 400))
    setup.life.fire(signal(T0, "50"))  # warning: slack and webhook
    setup.dispatcher.deliver_due(NOW)
    ((_, status, outcome, error, retry_at),) = setup.attempts("slack")
    assert (status, outcome, error) == (500, "retry", "HTTP 500: rollup_error")
    assert NOW.replace(tzinfo=None) + SECOND <= retry_at <= NOW.replace(tzinfo=None) + 2.5 * SECOND
    setup.dispatcher.deliver_due(NOW + 2 * SECOND)
    second_retry = setup.attempts("slack")[1][4]
    assert second_retry >= (NOW + 4 * SECOND).replace(tzinfo=None)  # doubled
    setup.dispatcher.deliver_due(NOW + 10 * SECOND)
    assert [a[2] for a in setup.attempts("slack")] == ["retry", "retry", "sent"]
    assert len(setup.slack.requests) == 3

    assert setup.attempts("webhook") == [(1, 400, "failed", "HTTP 400: invalid_payload", None)]
    setup.dispatcher.deliver_due(NOW + dt.timedelta(hours=1))
    assert len(setup.webhook.requests) == 1  # a 4xx is never retried
    assert ("webhook", "trigger", "failed", 1) in setup.outbox()


def test_a_dead_channel_is_retried_until_it_recovers_without_duplicates(setup: Setup) -> None:
    setup.pagerduty.down()
    setup.slack.echo_path = True
    setup.slack.answer(failure("slack", 502))
    setup.life.fire(signal(T0, "400"))
    now = NOW
    for _ in range(8):
        setup.dispatcher.deliver_due(now)
        now += dt.timedelta(seconds=61)  # beyond the longest backoff
    tries = setup.attempts("pagerduty")
    assert [t[2] for t in tries] == ["retry"] * 8
    assert all(t[1] is None and t[3].startswith("ConnectError") for t in tries)
    gaps = [t[4] - (NOW + i * 61 * SECOND).replace(tzinfo=None) for i, t in enumerate(tries)]
    assert max(gaps) <= 60 * SECOND  # capped backoff

    setup.pagerduty.up()
    setup.dispatcher.deliver_due(now)
    setup.dispatcher.deliver_due(now + 61 * SECOND)
    assert [b["event_action"] for b in setup.pagerduty.bodies()] == ["trigger"]
    assert ("pagerduty", "trigger", "sent", 9) in setup.outbox()

    # The secret part of the Slack URL, quoted in an error page, never reaches the log.
    slack_error = setup.attempts("slack")[0][3]
    assert "XXXXSECRET" not in slack_error and "/***" in slack_error
    stored = setup.life.cursor.execute("SELECT string_agg(error, ' ') FROM alert_deliveries")
    assert ROUTING_KEY not in (stored.fetchone() or [""])[0]


def test_suppressed_notices_are_never_sent(setup: Setup) -> None:
    from warehouse.incidents.mutes import add_mute

    add_mute(setup.life.cursor, "spend:total", None, T0 + dt.timedelta(hours=9), None, T0)
    setup.life.fire(signal(T0, "400", series="spend:total"))
    assert setup.dispatcher.deliver_due(NOW) == 0
    assert {status for _, _, status, _ in setup.outbox()} == {"suppressed"}


def test_slack_gets_at_most_one_message_a_second_and_first_attempts_go_at_once(
    setup: Setup,
) -> None:
    setup.dispatcher = AlertDispatcher(
        setup.database,
        [SlackChannel(setup.slack.url(SLACK_PATH)), WebhookChannel(setup.webhook.url("/hook"))],
        setup.metrics,
    )
    # Signals stamped a minute in the future (a detector's clock ahead of ours) still go now.
    setup.life.fire(*(signal(T0 + MINUTE, "50", series=f"s{n}") for n in range(3)))
    assert setup.dispatcher.deliver_due(NOW - MINUTE) == 4  # 1 to Slack, 3 to the webhook
    assert setup.dispatcher.deliver_due(NOW - MINUTE) == 0  # Slack waits, nothing holds
    deadline = time.monotonic() + 10
    while len(setup.slack.requests) < 3 and time.monotonic() < deadline:
        setup.dispatcher.deliver_due(NOW - MINUTE)
        time.sleep(0.05)
    times = [r["at"] for r in setup.slack.requests]
    assert len(times) == 3
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(times))
    assert [status for _, _, status, _ in setup.outbox()] == ["sent"] * 6


def test_retry_after_and_backoff_arithmetic() -> None:

    now = dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC)
    date = "Mon, 02 Nov 2026 10:00:45 GMT"
    assert retry_after(httpx.Response(429, headers={"Retry-After": date}), now) == 45
    assert retry_after(httpx.Response(429, headers={"Retry-After": "7"}), now) == 7
    assert retry_after(httpx.Response(429, headers={"Retry-After": "99999"}), now) == 3600
    assert retry_after(httpx.Response(429, headers={"Retry-After": "soon"}), now) is None
    assert retry_after(httpx.Response(503), now) is None
    rng = random.Random(1)
    delays = [backoff(n, 1, 60, rng) for n in range(1, 10)]
    assert all(
        0.5 * min(60, 2 ** (n - 1)) <= d <= min(60, 2 ** (n - 1)) for n, d in enumerate(delays, 1)
    )
    assert Decimal(str(max(delays))) <= 60


def test_slack_and_pagerduty_down_ten_minutes_get_each_notice_once_after(setup: Setup) -> None:
    """Both channels refuse connections for ten minutes (the clock is simulated, the HTTP is
    real), under the default retry settings; an incident fires and resolves meanwhile. The
    rows stay pending all along (no give-up rule), and once the channels are back each
    receives the trigger, then the resolve, exactly once."""
    from collector.settings import Settings

    fields = Settings.model_fields
    dispatcher = AlertDispatcher(
        setup.database,
        [
            SlackChannel(setup.slack.url(SLACK_PATH), "http://dash.example/alerts", min_interval=0),
            PagerDutyChannel(ROUTING_KEY, setup.pagerduty.url("/v2/enqueue"), source="test"),
        ],
        DeliveryMetrics(CollectorRegistry()),
        initial_backoff_seconds=fields["alert_retry_initial_seconds"].default,
        max_backoff_seconds=fields["alert_retry_max_seconds"].default,
        seed=11,
    )
    setup.slack.down()
    setup.pagerduty.down()
    setup.life.fire(signal(T0, "400"))
    quiet = AlertPolicy().quiet("spend_anomaly")
    setup.life.run(T0 + quiet)  # resolved while the channels are down
    start = NOW + quiet
    outage = dt.timedelta(minutes=10)
    now = start
    while now < start + outage:
        dispatcher.deliver_due(now)
        now += 5 * SECOND
    for channel in ("slack", "pagerduty"):
        tries = setup.attempts(channel)
        assert [t[2] for t in tries] == ["retry"] * len(tries)
        assert len(tries) >= 8  # backoff 1, 2, 4 ... 256 s: still trying at minute ten
        assert tries[-1][4] > (start + outage - 5 * MINUTE).replace(tzinfo=None)
    assert {row[2] for row in setup.outbox() if row[0] != "webhook"} == {"pending"}

    setup.slack.up()
    setup.pagerduty.up()
    recovered = now
    while now < recovered + dt.timedelta(seconds=fields["alert_retry_max_seconds"].default + 10):
        dispatcher.deliver_due(now)
        now += 5 * SECOND
    dispatcher.stop(1)
    assert [b["event_action"] for b in setup.pagerduty.bodies()] == ["trigger", "resolve"]
    assert len({b["dedup_key"] for b in setup.pagerduty.bodies()}) == 1
    assert len(setup.slack.requests) == 2
    assert "Resolved" in str(setup.slack.bodies()[1]) or "resolved" in str(setup.slack.bodies()[1])
    sent = [row for row in setup.outbox() if row[0] != "webhook"]
    assert {row[2] for row in sent} == {"sent"}
