"""The self-hosted vLLM deployment's GPU and serving metrics, consistent with its calls.

The classification batch job calls a vLLM server on one GPU (`sample_data.product`). This
module turns those calls into what the DCGM exporter and vLLM's own `/metrics` would have
shown, scraped every minute: the GPU's engine activity (the share of the minute some call
was in flight) and utilization, and vLLM's cumulative prompt and
generation token counters (the tokens of the calls finished by the scrape) and the requests
running. So the GPU page's tokens are the calls' tokens, and GPU allocation charges each
call its share of the GPU-hours.

Why not a `MeterProvider`: the SDK's metric readers stamp every collection with the current
time, and an observation cannot carry another, so weeks of history cannot go through them.
The SDK's OTLP exporter, though, takes `MetricsData`, whose points carry their own times:
the points are built here with explicit timestamps and sent through that exporter, as the
spans are sent with explicit start and end times.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from sample_data.product import (
    VLLM_ADDRESS,
    VLLM_DEPLOYMENT,
    VLLM_GPU_HOST,
    VLLM_GPU_MODEL,
    VLLM_GPU_UUID,
    VLLM_MODEL,
    VLLM_PORT,
)

SECOND = 1_000_000_000  # nanoseconds
SCRAPE_NS = 60 * SECOND  # the collector scrapes both exporters every minute
SCOPE = InstrumentationScope("otelcol/prometheusreceiver")
DCGM_RESOURCE = Resource.create(
    {"service.name": "dcgm-exporter", "spendscope.deployment": VLLM_DEPLOYMENT}
)
VLLM_RESOURCE = Resource.create(
    {
        "service.name": "vllm",
        "spendscope.deployment": VLLM_DEPLOYMENT,
        "server.address": VLLM_ADDRESS,
        "server.port": VLLM_PORT,
    }
)
GPU_LABELS: Mapping[str, str] = {
    "gpu": "0",
    "UUID": VLLM_GPU_UUID,
    "modelName": VLLM_GPU_MODEL,
    "Hostname": VLLM_GPU_HOST,
}
VLLM_LABELS: Mapping[str, str] = {"model_name": VLLM_MODEL, "engine": "0"}


@dataclass(frozen=True)
class ServedCall:
    """One request the vLLM server served: when, and its tokens."""

    start_ns: int
    end_ns: int
    prompt_tokens: int
    generation_tokens: int


@dataclass(frozen=True)
class Scrape:
    """What one scrape of both exporters read."""

    at_ns: int
    busy_share: float  # of the minute before it, some request in flight
    running: int
    prompt_total: int
    generation_total: int


class VllmDeployment:
    """The vLLM server and its GPU from `started_ns` on (its counters start there)."""

    def __init__(self, started_ns: int) -> None:
        self.started_ns = started_ns
        self.next_scrape_ns = (started_ns // SCRAPE_NS + 1) * SCRAPE_NS
        self.prompt_total = 0
        self.generation_total = 0
        self._waiting: list[ServedCall] = []  # not started at the last scrape, by start
        self._next = 0  # the first of them still waiting
        self._active: list[ServedCall] = []  # started, not finished at the last scrape

    def serve(self, calls: Iterable[ServedCall]) -> None:
        self._waiting = sorted([*self._waiting[self._next :], *calls], key=_by_start)
        self._next = 0

    def scrape(self, until_ns: int) -> list[Scrape]:
        """Every scrape due up to `until_ns`, in time order."""
        scrapes: list[Scrape] = []
        while self.next_scrape_ns <= until_ns:
            at = self.next_scrape_ns
            while self._next < len(self._waiting) and self._waiting[self._next].start_ns < at:
                self._active.append(self._waiting[self._next])
                self._next += 1
            for call in self._active:
                if call.end_ns <= at:
                    self.prompt_total += call.prompt_tokens
                    self.generation_total += call.generation_tokens
            busy = _busy_ns(sorted(self._active, key=_by_start), at - SCRAPE_NS, at)
            self._active = [call for call in self._active if call.end_ns > at]
            scrapes.append(
                Scrape(
                    at,
                    busy / SCRAPE_NS,
                    len(self._active),
                    self.prompt_total,
                    self.generation_total,
                )
            )
            self.next_scrape_ns += SCRAPE_NS
        return scrapes

    def metrics(self, scrapes: list[Scrape]) -> MetricsData:
        """The scrapes as the OTel Collector's Prometheus receiver forwards them."""

        def gauge(name: str, unit: str, labels: Mapping[str, str], values: list[float]) -> Metric:
            points = [
                NumberDataPoint(dict(labels), self.started_ns, scrape.at_ns, value)
                for scrape, value in zip(scrapes, values, strict=True)
            ]
            return Metric(name, None, unit, Gauge(points))

        def counter(name: str, values: list[int]) -> Metric:
            points = [
                NumberDataPoint(dict(VLLM_LABELS), self.started_ns, scrape.at_ns, value)
                for scrape, value in zip(scrapes, values, strict=True)
            ]
            cumulative = AggregationTemporality.CUMULATIVE
            return Metric(name, None, "1", Sum(points, cumulative, is_monotonic=True))

        dcgm = [
            gauge(
                "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
                "1",
                GPU_LABELS,
                [round(s.busy_share, 4) for s in scrapes],
            ),
            # GPU_UTIL counts any kernel running in its sampling window: it reads higher.
            gauge(
                "DCGM_FI_DEV_GPU_UTIL",
                "%",
                GPU_LABELS,
                [min(100, math.ceil(s.busy_share * 150)) for s in scrapes],
            ),
        ]
        vllm = [
            counter("vllm:prompt_tokens_total", [s.prompt_total for s in scrapes]),
            counter("vllm:generation_tokens_total", [s.generation_total for s in scrapes]),
            gauge("vllm:num_requests_running", "1", VLLM_LABELS, [s.running for s in scrapes]),
        ]
        return MetricsData(
            [
                ResourceMetrics(DCGM_RESOURCE, [ScopeMetrics(SCOPE, dcgm, "")], ""),
                ResourceMetrics(VLLM_RESOURCE, [ScopeMetrics(SCOPE, vllm, "")], ""),
            ]
        )


def _busy_ns(calls: list[ServedCall], start: int, end: int) -> int:
    """How much of [start, end) some call was in flight (calls sorted by start)."""
    busy, covered = 0, start
    for call in calls:
        lo, hi = max(call.start_ns, covered), min(call.end_ns, end)
        if hi > lo:
            busy += hi - lo
            covered = hi
    return busy


def _by_start(call: ServedCall) -> int:
    return call.start_ns
