"""Sending the sample product to a running spendscope: a backfill of history, then a live
trickle. Spans and the vLLM deployment's GPU metrics go over OTLP/HTTP through the SDK's
exporters; outcomes reported late go to `POST /api/v1/outcomes` once their time has come.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable

import httpx
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics.export import MetricExportResult
from opentelemetry.sdk.trace import TracerProvider

from sample_data.export import ExportFailed, InlineBatchProcessor, SeededIds, inline_provider
from sample_data.gpu import SCRAPE_NS, VllmDeployment
from sample_data.product import (
    CLASSIFICATION,
    PRODUCTION,
    SESSION_MIX,
    STAGING,
    STAGING_SHARE,
)
from sample_data.schedule import Shape, history, live_incidents, to_ns
from sample_data.traffic import LateOutcome, SampleTraffic, Session, TrafficSummary

log = logging.getLogger(__name__)

SERVICE = "acme-assist"
OUTCOME_BATCH = 500
GPU_EXPORT_NS = 6 * 3600 * 1_000_000_000  # six hours of scrapes per metrics request


class SampleSender:
    """One sample product, sending to the spendscope at `base_url`.

    Its live traffic (sessions, incidents) has ids of its own `run`, new for each sender
    unless given: a restarted demo never reuses an id stored before, which the collector
    would take for a duplicate. A backfill's ids are those of its window instead, so that
    re-sending an interrupted one stores only what was missing."""

    def __init__(
        self, base_url: str, token: str | None = None, seed: int = 7, run: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.run = run or secrets.token_hex(4)
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self.processor = InlineBatchProcessor(
            OTLPSpanExporter(endpoint=f"{self.base_url}/v1/traces", headers=headers, timeout=30)
        )
        self.providers: dict[str, TracerProvider] = {
            env: inline_provider(self.processor, SERVICE, env, seed)
            for env in (PRODUCTION, STAGING)
        }
        self._live_epoch = 0
        self._use_live_ids()
        tracers = {env: p.get_tracer("sample_data") for env, p in self.providers.items()}
        self.traffic = SampleTraffic(tracers[PRODUCTION], seed=seed, environments=tracers)
        self.metric_exporter = OTLPMetricExporter(
            endpoint=f"{self.base_url}/v1/metrics", headers=headers, timeout=30
        )
        self.gpu: VllmDeployment | None = None  # from the backfill's start, or the trickle's
        self.http = httpx.Client(base_url=self.base_url, headers=headers or {}, timeout=30)
        self.pending: list[tuple[int, int, LateOutcome]] = []  # a heap by due time
        self.posted_outcomes = 0
        self.random = random.Random(f"live-{seed}-{self.run}")

    def _use_live_ids(self) -> None:
        """Ids of this run, never used before by it (nor by any other run)."""
        self._live_epoch += 1
        self._use_ids(f"live-{self.run}-{self._live_epoch}")

    def _use_ids(self, key: str) -> None:
        for provider in self.providers.values():
            ids = provider.id_generator
            assert isinstance(ids, SeededIds)
            ids.reseed(key)

    def backfill(
        self,
        days: float,
        end: dt.datetime | None = None,
        shape: Shape | None = None,
        progress: Callable[[int, int], None] | None = None,
        gpu_progress: Callable[[int, int], None] | None = None,
    ) -> TrafficSummary:
        """`days` of history up to `end` (now), with past timestamps, and the vLLM
        deployment's GPU metrics; then the outcomes reported late whose time has come.
        `progress(done, total)` after each session, `gpu_progress(done, total)` after each
        request of GPU scrapes."""
        end = end or dt.datetime.now(dt.UTC)
        start = end - dt.timedelta(days=days)
        plan = history(start, end, self.traffic.seed, shape)
        # The same window, the same spans: ids and attributes from the window alone.
        self._use_ids(f"backfill-{to_ns(start)}-{to_ns(end)}")
        self.traffic.random.seed(self.traffic.seed)
        self.gpu = self.gpu or VllmDeployment(to_ns(start))
        try:
            self.send(plan, progress)
        finally:
            self._use_live_ids()
        self.send_gpu_metrics(to_ns(end), gpu_progress)
        self.post_due_outcomes(time.time_ns())
        return self.traffic.summary()

    def inject_incidents(self, now: dt.datetime | None = None) -> None:
        """The live demo's incidents (`schedule.live_incidents`): a spend spike over the
        last hour and a runaway agent session over the last minutes, for the detectors
        to find on their next runs."""
        self.send(live_incidents(now or dt.datetime.now(dt.UTC), self.traffic.seed, self.run))

    def send_gpu_metrics(
        self, until_ns: int, progress: Callable[[int, int], None] | None = None
    ) -> None:
        """The vLLM deployment's scrapes up to `until_ns`, covering the calls sent so far;
        `progress(done, total)` in scrapes after each request."""
        if self.gpu is None:
            self.gpu = VllmDeployment(until_ns)
        self.gpu.serve(self.traffic.served)
        self.traffic.served.clear()
        total = max(0, (until_ns - self.gpu.next_scrape_ns) // SCRAPE_NS + 1)
        done = 0
        while self.gpu.next_scrape_ns <= until_ns:
            scrapes = self.gpu.scrape(min(until_ns, self.gpu.next_scrape_ns + GPU_EXPORT_NS))
            result = self.metric_exporter.export(self.gpu.metrics(scrapes))
            if result is not MetricExportResult.SUCCESS:
                raise ExportFailed(f"the collector did not accept {len(scrapes)} GPU scrapes")
            done += len(scrapes)
            if progress:
                progress(done, total)

    def send(
        self, sessions: Iterable[Session], progress: Callable[[int, int], None] | None = None
    ) -> None:
        plan = list(sessions)
        for done, session in enumerate(plan, start=1):
            self.traffic.emit(session)
            if progress:
                progress(done, len(plan))
        self.processor.force_flush()
        self._queue_late()

    def trickle(
        self,
        stop: threading.Event,
        sessions_per_minute: float = 30.0,
        flush_seconds: float = 2.0,
    ) -> None:
        """Live sessions starting now, until `stop` is set; the hourly batch job on the hour.
        A rate of 0 sends nothing, GPU metrics included (a still demo, for screenshots and
        tests)."""
        if sessions_per_minute <= 0:
            while not stop.wait(1.0):
                pass
            return
        number = 0
        batch_hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        last_flush = time.monotonic()
        while not stop.wait(self.random.expovariate(sessions_per_minute / 60)):
            now = dt.datetime.now(dt.UTC)
            number += 1
            feature = self.random.choices(list(SESSION_MIX), weights=list(SESSION_MIX.values()))[0]
            environment = STAGING if self.random.random() < STAGING_SHARE else PRODUCTION
            self.traffic.emit(
                Session(feature, f"live-{self.run}-{number:05d}", to_ns(now), environment)
            )
            if now >= batch_hour + dt.timedelta(hours=1):
                batch_hour = now.replace(minute=0, second=0, microsecond=0)
                self.traffic.emit(
                    Session(CLASSIFICATION, f"batch-{batch_hour:%Y%m%d%H}", to_ns(now))
                )
            if time.monotonic() - last_flush >= flush_seconds:
                self.processor.force_flush()
                self._queue_late()
                self.post_due_outcomes(time.time_ns())
                self.send_gpu_metrics(time.time_ns())
                last_flush = time.monotonic()
        self.processor.force_flush()

    def _queue_late(self) -> None:
        for outcome in self.traffic.late:
            heapq.heappush(self.pending, (outcome.occurred_at_ns, len(self.pending), outcome))
        self.traffic.late.clear()

    def post_due_outcomes(self, now_ns: int) -> int:
        """Reports the late outcomes whose time has come; returns how many."""
        due: list[LateOutcome] = []
        while self.pending and self.pending[0][0] <= now_ns:
            due.append(heapq.heappop(self.pending)[2])
        for start in range(0, len(due), OUTCOME_BATCH):
            body = [outcome.payload() for outcome in due[start : start + OUTCOME_BATCH]]
            self.http.post("/api/v1/outcomes", json=body).raise_for_status()
        self.posted_outcomes += len(due)
        return len(due)

    def close(self) -> None:
        self.processor.force_flush()
        for provider in self.providers.values():
            provider.shutdown()
        self.processor.exporter.shutdown()
        self.metric_exporter.shutdown()
        self.http.close()
