"""The alert dispatcher: sends the outbox to Slack, PagerDuty and the webhook, in a thread of
its own so that a slow or dead channel never holds ingest or the event loop.

Each pass takes the due outbox rows (for each incident and channel, the oldest pending one, so
a resolve never overtakes its trigger) and POSTs them with httpx. Retries follow the OTLP
exporters' rule: only 429, 5xx and connection errors, after an exponential backoff with jitter
or the server's Retry-After, whichever is longer; any other answer fails the row for good. A
dead channel is retried (backoff capped) until it recovers; a row is marked sent once, so a
recovered channel receives each notice once. Every attempt is stored in `alert_deliveries`,
with secrets redacted. `stop` ends after the attempt under way, within its deadline; what is
still pending stays in the outbox for the next start.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import duckdb
import httpx
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric

from collector.alerting.channel import Channel, redact
from warehouse.incidents.outbox import Attempt, OutboxItem, due, record_attempt
from warehouse.store.database import Database

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = 3600.0  # a Retry-After beyond an hour is taken as an hour
ERROR_BODY = 200  # characters of an error answer kept in the delivery log


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "spendscope_alert_delivery_attempts",
            "Alert delivery attempts by channel and outcome (sent, retry, failed).",
            ["channel", "outcome"],
            registry=registry,
        )
        self.errors = Counter(
            "spendscope_alert_dispatcher_errors",
            "Dispatcher passes that failed (database errors); the pass is retried.",
            registry=registry,
        )


class PendingCollector:
    """Outbox rows waiting to be sent, per channel, read at each scrape."""

    def __init__(self, pending: Callable[[], dict[str, int]], channels: Sequence[str]) -> None:
        self._pending = pending
        self._channels = channels

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self._pending()
        except duckdb.Error:
            return
        gauge = GaugeMetricFamily(
            "spendscope_alert_outbox_pending", "Alert notices not yet sent.", labels=["channel"]
        )
        for channel in sorted({*self._channels, *counts}):
            gauge.add_metric([channel], counts.get(channel, 0))
        yield gauge


class RedactingFilter(logging.Filter):
    """Takes the secrets out of other libraries' log records (httpx logs every request URL,
    and a webhook URL is a secret)."""

    LOGGERS = ("httpx", "httpcore")

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self._secrets)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def retry_after(response: httpx.Response, now: dt.datetime) -> float | None:
    """Seconds the server asks to wait (delta-seconds or an HTTP date), if it says."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return min(MAX_RETRY_AFTER, max(0.0, (when - now).total_seconds()))


def backoff(attempt: int, initial: float, ceiling: float, rng: random.Random) -> float:
    """Delay before retry number `attempt` (1, 2, ...): doubling, capped, with jitter."""
    delay: float = min(ceiling, initial * 2 ** (attempt - 1))
    return delay * rng.uniform(0.5, 1.0)


class AlertDispatcher:
    def __init__(
        self,
        database: Database,
        channels: Sequence[Channel],
        metrics: DeliveryMetrics,
        *,
        poll_seconds: float = 1.0,
        timeout_seconds: float = 10.0,
        initial_backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 300.0,
        transport: httpx.BaseTransport | None = None,
        seed: int | None = None,
    ) -> None:
        self._database = database
        self._channels = {channel.name: channel for channel in channels}
        self._metrics = metrics
        self._poll = poll_seconds
        self._initial = initial_backoff_seconds
        self._ceiling = max_backoff_seconds
        self._timeout = timeout_seconds
        self._transport = transport
        self._client: httpx.Client | None = None  # made on first use: no channel, no client
        self._rng = random.Random(seed)
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._secrets = tuple(s for c in channels for s in c.secrets)
        self._log_filter = RedactingFilter(self._secrets)
        self._last_sent: dict[str, float] = {}  # channel -> monotonic time of its last send

    @property
    def channels(self) -> list[str]:
        return list(self._channels)

    def start(self) -> None:
        if not self._channels:
            log.info("alert delivery: no channel configured")
            return
        for name in RedactingFilter.LOGGERS:
            logging.getLogger(name).addFilter(self._log_filter)
        self._thread = threading.Thread(target=self._loop, name="alert-dispatcher", daemon=True)
        self._thread.start()
        log.info("alert delivery to %s", ", ".join(self._channels))

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll."""
        self._wake.set()

    def stop(self, deadline: float) -> bool:
        """Stop after the attempt under way; False if it was still running at the deadline."""
        self._stopping.set()
        self._wake.set()
        stopped = True
        if self._thread is not None:
            self._thread.join(deadline)
            stopped = not self._thread.is_alive()
        if stopped:
            if self._client is not None:
                self._client.close()
            for name in RedactingFilter.LOGGERS:
                logging.getLogger(name).removeFilter(self._log_filter)
        return stopped

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.deliver_due(dt.datetime.now(dt.UTC))
            except duckdb.Error:
                # The database is busy or closing; the rows stay pending for the next pass.
                self._metrics.errors.inc()
                log.exception("alert delivery pass failed")
            self._wake.wait(self._poll)
            self._wake.clear()

    def deliver_due(self, now: dt.datetime) -> int:
        """One pass over the due outbox rows; returns the attempts made. A channel that asks
        to back off is left alone for the rest of the pass."""
        cursor = self._database.cursor()
        pass_started = time.monotonic()
        try:
            attempts = 0
            resting: set[str] = set()
            for item in due(cursor, now, self._channels):
                if self._stopping.is_set():
                    break
                if item.channel in resting:
                    continue
                if not self._ready(self._channels[item.channel]):
                    resting.add(item.channel)  # its rate limit: the next pass
                    continue
                at = now + dt.timedelta(seconds=time.monotonic() - pass_started)
                attempt = self._send(self._channels[item.channel], item, at)
                self._last_sent[item.channel] = time.monotonic()
                record_attempt(cursor, item, attempt)
                self._metrics.attempts.labels(item.channel, attempt.outcome).inc()
                attempts += 1
                if attempt.outcome == "retry":
                    resting.add(item.channel)
                level = logging.INFO if attempt.outcome == "sent" else logging.WARNING
                log.log(
                    level,
                    "alert %s of incident %d to %s: %s%s",
                    item.event,
                    item.incident_id,
                    item.channel,
                    attempt.outcome,
                    f" ({attempt.error})" if attempt.error else "",
                )
            return attempts
        finally:
            cursor.close()

    def _ready(self, channel: Channel) -> bool:
        """Whether the channel's rate limit allows a message now: `min_interval` after the
        end of the previous attempt, so two messages never arrive closer than that."""
        last = self._last_sent.get(channel.name)
        return last is None or time.monotonic() >= last + channel.min_interval

    def _send(self, channel: Channel, item: OutboxItem, now: dt.datetime) -> Attempt:
        started = time.monotonic()

        def elapsed() -> float:
            return round((time.monotonic() - started) * 1000, 1)

        def retry(status: int | None, error: str, wait: float | None = None) -> Attempt:
            delay = max(
                wait or 0.0, backoff(item.attempts + 1, self._initial, self._ceiling, self._rng)
            )
            return Attempt(
                now, elapsed(), "retry", status, redact(error, self._secrets),
                now + dt.timedelta(seconds=delay),
            )  # fmt: skip

        try:
            if self._client is None:
                self._client = httpx.Client(timeout=self._timeout, transport=self._transport)
            response = self._client.post(channel.url, json=channel.body(item))
        except httpx.TransportError as exc:  # connection refused, reset, timeouts
            return retry(None, f"{type(exc).__name__}: {exc}")
        if channel.delivered(response):
            return Attempt(now, elapsed(), "sent", response.status_code)
        error = f"HTTP {response.status_code}: {response.text[:ERROR_BODY]}"
        if response.status_code == 429 or response.status_code >= 500:
            return retry(response.status_code, error, retry_after(response, now))
        return Attempt(now, elapsed(), "failed", response.status_code, redact(error, self._secrets))
