"""Overload, the measurement: offer several times the measured capacity to a real server,
through the real OTel HTTP exporter, and see what happens to memory, to the answers and to
the spans. `run` returns the figures; `bench.overload` prints them at full size and
tests/collector/ingest/test_overload.py asserts on them at a small one.

1. Starts `python -m collector serve` (`server.ServerProcess`) on a fresh directory.
2. Capacity: `workers` exporter threads export batches back to back for
   `capacity_seconds`; the spans acknowledged per second are the capacity of this server
   with these clients, on this machine, now (so the ratio below holds whatever the load).
3. Burst: batches are offered open loop at `factor` x capacity for `burst_seconds`. Each
   batch goes through a real `OTLPSpanExporter` (timeout `exporter_timeout`), which
   retries 503s after Retry-After as OTel exporters do. Batches that wait for a free
   exporter thread form the client's backlog (an SDK's BatchSpanProcessor queue), measured.
   The server's RSS (/proc/PID/status VmRSS) is sampled every 50 ms; raw probes check that
   refusals are 503 with Retry-After.
4. Drain: waits until every offered batch was exported or given up by its exporter, then
   stops the server (SIGTERM) and counts the stored spans per acknowledged trace.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from sample_data.harness import otlp
from sample_data.harness.server import ServerProcess

PROTOBUF = "application/x-protobuf"
MAX_CAPACITY = 40_000  # spans/s the capacity phase has spans ready for


@dataclass
class Figures:
    capacity_spans_per_s: float = 0.0
    offered_spans_per_s: float = 0.0
    offered_actual_spans_per_s: float = 0.0
    factor: float = 0.0
    burst_accepted_spans_per_s: float = 0.0
    refused_503: int = 0
    probes_refused: int = 0
    probes_with_retry_after: int = 0
    # Time to the answer (200 after the commit, or 503) of the raw probes during the burst.
    probe_latency_p50_ms: float = 0.0
    probe_latency_max_ms: float = 0.0
    probes_timed_out: int = 0
    # Each burst batch's export call (what the exporter's timeout applies to).
    export_latency_p50_ms: float = 0.0
    export_latency_p99_ms: float = 0.0
    probe_latencies_ms: list[float] = field(default_factory=list, repr=False)
    rss_idle_mb: float = 0.0
    rss_capacity_peak_mb: float = 0.0
    rss_burst_peak_mb: float = 0.0
    client_backlog_peak_spans: int = 0
    drain_seconds: float = 0.0
    spans_offered: int = 0
    spans_acked: int = 0
    spans_given_up: int = 0
    acked_spans_missing: int = 0
    spans_stored_twice: int = 0
    notes: list[str] = field(default_factory=list)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.05)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def make_batches(count: int, size: int) -> list[list[ReadableSpan]]:
    """Finished spans from the real SDK (one trace each, a model call), in batches."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("overload")
    attributes: dict[str, str | int] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "spendscope.feature": "overload",
        "session.id": "overload-session",
    }
    for _ in range(count * size):
        with tracer.start_as_current_span("chat", attributes=attributes):
            pass
    provider.shutdown()
    spans = list(memory.get_finished_spans())
    return [spans[i : i + size] for i in range(0, len(spans), size)]


class Exporters:
    """`workers` threads, each with its own real OTLP/HTTP exporter, exporting batches from
    a queue; records which traces were acknowledged and which batches were given up."""

    def __init__(self, server: ServerProcess, workers: int, timeout: float) -> None:
        self.batches: queue.Queue[list[ReadableSpan] | None] = queue.Queue()
        self.acked_traces: list[int] = []
        self.acked = 0
        self.given_up = 0
        self.backlog_peak = 0
        self.export_seconds: list[float] = []  # each export call, retries included
        self._queued_spans = 0
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(
                target=self._work,
                args=(OTLPSpanExporter(endpoint=f"{server.http_url}/v1/traces", timeout=timeout),),
                daemon=True,
            )
            for _ in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def offer(self, batch: list[ReadableSpan]) -> None:
        with self._lock:
            self._queued_spans += len(batch)
            self.backlog_peak = max(self.backlog_peak, self._queued_spans)
        self.batches.put(batch)

    def _work(self, exporter: OTLPSpanExporter) -> None:
        while (batch := self.batches.get()) is not None:
            with self._lock:
                self._queued_spans -= len(batch)
            started = time.monotonic()
            result = exporter.export(batch)
            elapsed = time.monotonic() - started
            with self._lock:
                self.export_seconds.append(elapsed)
                if result is SpanExportResult.SUCCESS:
                    self.acked += len(batch)
                    self.acked_traces += [s.context.trace_id for s in batch if s.context]
                else:
                    self.given_up += len(batch)
            self.batches.task_done()
        exporter.shutdown()  # type: ignore[no-untyped-call]

    def drain(self) -> None:
        self.batches.join()

    def close(self) -> None:
        for _ in self._threads:
            self.batches.put(None)
        for thread in self._threads:
            thread.join(120)


def refused_count(server: ServerProcess) -> int:
    for family in text_string_to_metric_families(server.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "spendscope_ingest_requests_total" and sample.labels == {
                "transport": "http",
                "outcome": "unavailable",
            }:
                return int(sample.value)
    return 0


def probe(server: ServerProcess, body: bytes, figures: Figures) -> None:
    """A raw request during the burst: a refusal must be a 503 with Retry-After. Its time
    to the answer is what a client waits for a commit (or a refusal) under the burst."""
    started = time.monotonic()
    try:
        response = server.client.post(
            f"{server.http_url}/v1/traces", content=body, headers={"content-type": PROTOBUF}
        )
    except httpx.TimeoutException:  # the client's 10 s, like the OTel exporters' default
        figures.probe_latencies_ms.append(round((time.monotonic() - started) * 1000, 1))
        figures.probes_timed_out += 1
        return
    figures.probe_latencies_ms.append(round((time.monotonic() - started) * 1000, 1))
    if response.status_code != 200:
        figures.probes_refused += 1
        if response.status_code == 503 and response.headers.get("retry-after"):
            figures.probes_with_retry_after += 1


def probe_until(
    server: ServerProcess, body: bytes, figures: Figures, done: threading.Event
) -> None:
    while not done.wait(0.5):
        probe(server, body, figures)


def run(
    data_dir: Path,
    *,
    factor: float = 4.0,
    burst_seconds: float = 15.0,
    capacity_seconds: float = 8.0,
    batch: int = 500,
    workers: int = 16,
    exporter_timeout: float = 120.0,
    env: dict[str, str] | None = None,
) -> Figures:
    figures = Figures(factor=factor)
    server = ServerProcess(data_dir, env={"SPENDSCOPE_RETRY_AFTER_SECONDS": "1", **(env or {})})
    try:
        server.start(timeout=120)
        assert server.process is not None
        pid = server.process.pid
        figures.rss_idle_mb = round(rss_mb(pid), 1)
        probe_body = otlp.request([otlp.span(1 << 100, 1)]).SerializeToString()

        # Capacity: closed loop, workers exporting back to back.
        stock = make_batches(int(capacity_seconds * MAX_CAPACITY / batch), batch)
        exporters = Exporters(server, workers, exporter_timeout)
        with RssSampler(pid) as sampler:
            started = time.monotonic()
            before = exporters.acked
            deadline = started + capacity_seconds
            while time.monotonic() < deadline and stock:
                while exporters.batches.qsize() < workers and stock:
                    exporters.offer(stock.pop())
                time.sleep(0.01)
            elapsed = time.monotonic() - started
            acked = exporters.acked - before
            exporters.drain()
            figures.capacity_spans_per_s = round(acked / elapsed)
            if not stock:
                figures.notes.append("capacity: the stock of spans ran out; a lower bound")
        figures.rss_capacity_peak_mb = round(sampler.peak, 1)
        exporters.close()
        figures.spans_offered = exporters.acked + exporters.given_up
        acked_before = set(exporters.acked_traces)
        given_up_before = exporters.given_up

        # Burst: open loop at factor x capacity.
        rate = factor * figures.capacity_spans_per_s
        figures.offered_spans_per_s = round(rate)
        count = max(1, int(rate * burst_seconds / batch))
        burst = make_batches(count, batch)
        refused_before = refused_count(server)
        exporters = Exporters(server, workers, exporter_timeout)
        with RssSampler(pid) as sampler:
            started = time.monotonic()
            probing = threading.Event()
            prober = threading.Thread(
                target=probe_until, args=(server, probe_body, figures, probing), daemon=True
            )
            prober.start()
            for n, b in enumerate(burst):
                at = started + n * batch / rate
                time.sleep(max(0.0, at - time.monotonic()))
                exporters.offer(b)
            burst_end = time.monotonic()
            probing.set()
            prober.join(60)
            latencies = sorted(figures.probe_latencies_ms) or [0.0]
            figures.probe_latency_p50_ms = latencies[len(latencies) // 2]
            figures.probe_latency_max_ms = latencies[-1]
            figures.offered_actual_spans_per_s = round(len(burst) * batch / (burst_end - started))
            acked_in_burst = exporters.acked
            exporters.drain()
            figures.drain_seconds = round(time.monotonic() - burst_end, 1)
        figures.burst_accepted_spans_per_s = round(acked_in_burst / (burst_end - started))
        figures.rss_burst_peak_mb = round(sampler.peak, 1)
        figures.client_backlog_peak_spans = exporters.backlog_peak
        exports = sorted(exporters.export_seconds) or [0.0]
        figures.export_latency_p50_ms = round(exports[len(exports) // 2] * 1000, 1)
        figures.export_latency_p99_ms = round(exports[int(len(exports) * 0.99)] * 1000, 1)
        figures.refused_503 = refused_count(server) - refused_before
        exporters.close()
        figures.spans_offered += len(burst) * batch
        figures.spans_acked = len(acked_before) + len(exporters.acked_traces)
        figures.spans_given_up = given_up_before + exporters.given_up
        assert server.stop(120) == 0
        count_stored(server.database_path, acked_before | set(exporters.acked_traces), figures)
    finally:
        server.kill()
        server.client.close()
    return figures


def count_stored(database: Path, acked: set[int], figures: Figures) -> None:
    with duckdb.connect(str(database), read_only=True) as conn:
        conn.execute("CREATE TEMP TABLE acked (trace_id BLOB)")
        conn.executemany("INSERT INTO acked VALUES (?)", [[t.to_bytes(16, "big")] for t in acked])
        row = conn.execute(
            """
            SELECT count(*) FILTER (WHERE n IS NULL), count(*) FILTER (WHERE n > 1)
            FROM acked LEFT JOIN (SELECT trace_id, count(*) AS n FROM spans GROUP BY ALL)
                USING (trace_id)
            """
        ).fetchone()
    assert row is not None
    figures.acked_spans_missing, figures.spans_stored_twice = int(row[0]), int(row[1])
