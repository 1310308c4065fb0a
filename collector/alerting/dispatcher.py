"""The alert dispatcher: sends the outbox to Slack, PagerDuty and the webhook, one thread per
channel, so that a slow or dead channel holds neither ingest, the event loop, nor the other
channels.

Each channel's pass takes its due outbox rows (for each incident, the oldest pending one, so
a resolve never overtakes its trigger) and POSTs them with httpx. Retries follow the OTLP
exporters' rule: only 429, 5xx and connection errors, after an exponential backoff with jitter
or the server's Retry-After, whichever is longer; any other answer fails the row for good. A
dead channel is retried (backoff capped) until it recovers; a row is marked sent once, so a
recovered channel receives each notice once. A timeout after the request was sent is not a
refusal (the channel may have taken it): the next attempt waits a backoff that starts at the
timeout, and after the channel's `max_unanswered` such attempts the row is given up, which
bounds the copies a slow channel gets; the webhook's repeats carry one `Idempotency-Key`,
PagerDuty's one `dedup_key`. Every attempt is stored in `alert_deliveries`, with secrets
redacted. `stop` ends after the attempts under way, within its deadline; what is still
pending stays in the outbox for the next start.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import duckdb
import httpx
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric

from collector.alerting.channel import Channel, redact
from warehouse.incidents.outbox import (
    UNANSWERED,
    Attempt,
    OutboxItem,
    Outcome,
    claim,
    due,
    record_attempt,
)
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
        leads: Callable[[], bool] = lambda: True,
    ) -> None:
        """`leads()`: whether this node delivers now (one node of a lake does:
        `warehouse.store.leadership`; the embedded file's process always does)."""
        self._database = database
        self._leads = leads
        self._channels = {channel.name: channel for channel in channels}
        self._metrics = metrics
        self._poll = poll_seconds
        self._initial = initial_backoff_seconds
        self._ceiling = max_backoff_seconds
        self._timeout = timeout_seconds
        self._transport = transport
        # Per channel: its own HTTP client (made on first use), jitter, wake-up and thread.
        self._clients: dict[str, httpx.Client] = {}
        self._clients_lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        self._rngs = {
            name: random.Random(None if seed is None else f"{seed}:{name}")
            for name in self._channels
        }
        self._wakes = {name: threading.Event() for name in self._channels}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
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
        for name in self._channels:
            thread = threading.Thread(
                target=self._loop, args=(name,), name=f"alert-{name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        log.info("alert delivery to %s", ", ".join(self._channels))

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll."""
        for event in self._wakes.values():
            event.set()

    def stop(self, deadline: float) -> bool:
        """Stop after the attempts under way; False if one was still running at the deadline."""
        self._stopping.set()
        self.wake()
        end = time.monotonic() + deadline
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        stopped = not any(thread.is_alive() for thread in self._threads)
        if stopped:
            for client in self._clients.values():
                client.close()
            for name in RedactingFilter.LOGGERS:
                logging.getLogger(name).removeFilter(self._log_filter)
        return stopped

    def _loop(self, channel: str) -> None:
        wake = self._wakes[channel]
        while not self._stopping.is_set():
            wake.clear()  # before the pass: a wake-up during it is not lost
            try:
                self.deliver_channel(channel, dt.datetime.now(dt.UTC))
            except duckdb.Error:
                # The database is busy or closing; the rows stay pending for the next pass.
                self._metrics.errors.inc()
                log.exception("alert delivery pass to %s failed", channel)
            wake.wait(self._poll)

    def deliver_due(self, now: dt.datetime) -> int:
        """One pass over every channel's due rows, the channels side by side (as their threads
        do); returns the attempts made."""
        names = list(self._channels)
        if len(names) <= 1:
            return sum(self.deliver_channel(name, now) for name in names)
        with ThreadPoolExecutor(len(names), thread_name_prefix="alert-pass") as pool:
            return sum(pool.map(lambda name: self.deliver_channel(name, now), names))

    def deliver_channel(self, name: str, now: dt.datetime) -> int:
        """One pass over one channel's due rows; returns the attempts made. The pass ends when
        the channel must wait: its rate limit, a retry (it failed or asked to back off)."""
        channel = self._channels[name]
        cursor = self._database.cursor()
        pass_started = time.monotonic()
        try:
            attempts = 0
            for item in due(cursor, now, [name]):
                if self._stopping.is_set() or not self._leads() or not self._ready(channel):
                    break
                at = now + dt.timedelta(seconds=time.monotonic() - pass_started)
                if not claim(cursor, item, at):
                    continue
                attempt = self._send(channel, item, at)
                self._last_sent[name] = time.monotonic()
                record_attempt(cursor, item, attempt)
                self._metrics.attempts.labels(name, attempt.outcome).inc()
                attempts += 1
                level = logging.INFO if attempt.outcome == "sent" else logging.WARNING
                log.log(
                    level,
                    "alert %s of incident %d to %s: %s%s",
                    item.event,
                    item.incident_id,
                    name,
                    attempt.outcome,
                    f" ({attempt.error})" if attempt.error else "",
                )
                if attempt.outcome == "retry":
                    break
            return attempts
        finally:
            cursor.close()

    def _ready(self, channel: Channel) -> bool:
        """Whether the channel's rate limit allows a message now: `min_interval` after the
        end of the previous attempt, so two messages never arrive closer than that."""
        last = self._last_sent.get(channel.name)
        return last is None or time.monotonic() >= last + channel.min_interval

    def _client(self, channel: Channel) -> httpx.Client:
        """The channel's HTTP client; the clients share one TLS context (each costs ~0.1 s)."""
        with self._clients_lock:
            client = self._clients.get(channel.name)
            if client is None:
                if self._tls is None:
                    self._tls = httpx.create_ssl_context()
                client = httpx.Client(
                    timeout=self._timeout, transport=self._transport, verify=self._tls
                )
                self._clients[channel.name] = client
            return client

    def _send(self, channel: Channel, item: OutboxItem, now: dt.datetime) -> Attempt:
        started = time.monotonic()

        def attempt(
            outcome: Outcome, status: int | None, error: str | None = None, wait: float = 0.0
        ) -> Attempt:
            retry_at = now + dt.timedelta(seconds=wait) if outcome == "retry" else None
            clean = redact(error, self._secrets) if error else None
            elapsed = round((time.monotonic() - started) * 1000, 1)
            return Attempt(now, elapsed, outcome, status, clean, retry_at)

        rng = self._rngs[channel.name]
        try:
            response = self._client(channel).post(
                channel.url, json=channel.body(item), headers=channel.headers(item)
            )
        except httpx.TransportError as exc:  # connection refused, reset, timeouts
            name = type(exc).__name__
            if name not in UNANSWERED:  # refused, reset, connect timeout: not taken
                wait = backoff(item.attempts + 1, self._initial, self._ceiling, rng)
                return attempt("retry", None, f"{name}: {exc}", wait)
            # Sent, no answer: it may have been taken. Wait at least the timeout; not forever.
            unanswered = item.unanswered + 1
            error = f"{name}: no answer within {self._timeout:g} s"
            if unanswered >= channel.max_unanswered:
                error += (
                    f", {unanswered} times: given up ({channel.name} may have received it"
                    f" up to {unanswered} times)"
                )
                return attempt("failed", None, error)
            wait = backoff(unanswered, max(self._initial, self._timeout), self._ceiling, rng)
            return attempt(
                "retry", None, f"{error} ({unanswered} of {channel.max_unanswered})", wait
            )
        if channel.delivered(response):
            return attempt("sent", response.status_code)
        error = f"HTTP {response.status_code}: {response.text[:ERROR_BODY]}"
        if response.status_code == 429 or response.status_code >= 500:
            wait = max(
                retry_after(response, now) or 0.0,
                backoff(item.attempts + 1, self._initial, self._ceiling, rng),
            )
            return attempt("retry", response.status_code, error, wait)
        return attempt("failed", response.status_code, error)
