"""Durability against a real `spendscope serve` subprocess.

- What was acknowledged (HTTP 200, gRPC OK) survives kill -9, and a request is stored whole
  or not at all.
- SIGTERM lets the requests in flight finish and flushes them before the process exits.
- A full ingest queue answers 503 with Retry-After (gRPC: UNAVAILABLE), and the real OTel
  exporters retry until every span is stored: nothing is dropped silently.
- The attribution job resumes from its watermark after a restart and never counts a model
  call twice.

The warehouse is read with `duckdb.connect` once the server process has ended.
"""

from __future__ import annotations

import functools
import itertools
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import grpc
import httpx
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from sample_data.harness import otlp
from sample_data.harness.server import ServerProcess

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SPANS_PER_REQUEST = 100


def export_body(request_no: int, spans: int = SPANS_PER_REQUEST) -> bytes:
    """One trace per request (trace id = request number): a root and its children."""
    return otlp.request(
        otlp.span(request_no, n, None if n == 1 else 1, start_offset_ms=n)
        for n in range(1, spans + 1)
    ).SerializeToString()


def post(client: httpx.Client, url: str, body: bytes) -> httpx.Response:
    return client.post(f"{url}/v1/traces", content=body, headers={"content-type": otlp.PROTOBUF})


@dataclass
class Ledger:
    """What the clients sent and what the server acknowledged, by request number."""

    numbers: Iterator[int]
    sent: set[int] = field(default_factory=set)
    acked: set[int] = field(default_factory=set)
    acked_at: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self) -> int:
        with self.lock:
            number = next(self.numbers)
            self.sent.add(number)
            return number

    def ack(self, number: int) -> None:
        with self.lock:
            self.acked.add(number)
            self.acked_at[number] = time.monotonic()

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)


def http_sender(server: ServerProcess, ledger: Ledger, stop: threading.Event) -> None:
    """Sends distinct requests until told to stop or the server goes away."""
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            number = ledger.next()
            try:
                response = post(client, server.http_url, export_body(number))
            except httpx.TransportError:
                return
            if response.status_code == 200:
                ledger.ack(number)


def grpc_sender(server: ServerProcess, ledger: Ledger, stop: threading.Event) -> None:
    with grpc.insecure_channel(server.grpc_endpoint) as channel:
        export = channel.unary_unary(EXPORT_METHOD)
        while not stop.is_set():
            number = ledger.next()
            try:
                export(export_body(number), timeout=30)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE and not server_alive(server):
                    return
                continue
            ledger.ack(number)


def server_alive(server: ServerProcess) -> bool:
    return server.process is not None and server.process.poll() is None


@contextmanager
def senders(
    server: ServerProcess, ledger: Ledger, http: int = 3, grpc_senders: int = 1
) -> Iterator[threading.Event]:
    stop = threading.Event()
    Sender = Callable[[ServerProcess, Ledger, threading.Event], None]
    targets: list[Sender] = [http_sender for _ in range(http)]
    targets += [grpc_sender for _ in range(grpc_senders)]
    threads = [threading.Thread(target=t, args=(server, ledger, stop)) for t in targets]
    for thread in threads:
        thread.start()
    try:
        yield stop
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.01)


def stored_per_trace(database: Path) -> dict[int, int]:
    """Spans stored per trace (trace id as the request number); fails on any duplicate."""
    with duckdb.connect(str(database), read_only=True) as conn:
        rows = conn.execute(
            "SELECT trace_id, count(*), count(DISTINCT span_id) FROM spans GROUP BY trace_id"
        ).fetchall()
    assert all(total == distinct for _, total, distinct in rows), "a span is stored twice"
    return {int.from_bytes(trace, "big"): total for trace, total, _ in rows}


def assert_acknowledged_stored(ledger: Ledger, stored: dict[int, int]) -> None:
    missing = sorted(n for n in ledger.acked if stored.get(n) != SPANS_PER_REQUEST)
    assert not missing, f"acknowledged requests lost or partly stored: {missing[:10]}"
    partial = {n: c for n, c in stored.items() if c != SPANS_PER_REQUEST}
    assert not partial, f"requests stored in part (a commit is not atomic): {partial}"
    assert set(stored) <= ledger.sent, "spans nobody sent"


# --- kill -9 -----------------------------------------------------------------------------


def test_kill_9_loses_no_acknowledged_span(tmp_path: Path) -> None:
    data_dir = tmp_path / "server"
    ledger = Ledger(itertools.count(1))
    for kill_after in (1, 8, 20):
        server = ServerProcess(data_dir).start()
        before = ledger.acked_count()
        with senders(server, ledger):
            wait_for(
                lambda: ledger.acked_count() >= before + kill_after,  # noqa: B023
                90,
                "acknowledgements",
            )
            server.kill()
        assert_acknowledged_stored(ledger, stored_per_trace(server.database_path))

    # Restarted on the same files, the server takes everything again, each span once.
    server = ServerProcess(data_dir).start()
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(4) as pool:
        bodies = (export_body(number) for number in sorted(ledger.sent))
        statuses = pool.map(lambda body: post(client, server.http_url, body).status_code, bodies)
        assert set(statuses) == {200}
    assert server.stop() == 0
    assert stored_per_trace(server.database_path) == dict.fromkeys(ledger.sent, SPANS_PER_REQUEST)


# --- SIGTERM -----------------------------------------------------------------------------


def test_sigterm_stores_every_acknowledged_request_in_flight(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server").start()
    ledger = Ledger(itertools.count(1))
    assert server.process is not None
    with senders(server, ledger, http=4, grpc_senders=2):
        wait_for(lambda: ledger.acked_count() >= 20, 90, "acknowledgements")
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        returncode = server.process.wait(30)
    assert returncode == 0
    assert "all spans flushed" in server.log_path.read_text()
    # Requests in flight when the signal came were finished and acknowledged, not cut off.
    assert any(at > signalled for at in ledger.acked_at.values())
    assert_acknowledged_stored(ledger, stored_per_trace(server.database_path))


def test_sigterm_exits_zero(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server").start()
    with httpx.Client(timeout=30) as client:
        assert post(client, server.http_url, export_body(1)).status_code == 200
    returncode = server.stop()
    assert "all spans flushed" in server.log_path.read_text()
    assert returncode == 0


# --- backpressure ------------------------------------------------------------------------


def unavailable_count(server: ServerProcess, transport: str) -> float:
    """Requests the server refused with 503 / UNAVAILABLE, from its Prometheus metrics."""
    for family in text_string_to_metric_families(server.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "spendscope_ingest_requests_total" and sample.labels == {
                "transport": transport,
                "outcome": "unavailable",
            }:
                return sample.value
    return 0.0


def http_until_stored(server: ServerProcess, number: int, refusals: list[httpx.Response]) -> None:
    """A client that honours 503 + Retry-After, as OTLP exporters must."""
    with httpx.Client(timeout=30) as client:
        for _ in range(100):
            response = post(client, server.http_url, export_body(number, 500))
            if response.status_code == 200:
                return
            assert response.status_code == 503, response.text
            refusals.append(response)
            time.sleep(float(response.headers["retry-after"]))
    raise AssertionError(f"request {number} never accepted")


def grpc_until_stored(server: ServerProcess, number: int, refusals: list[grpc.RpcError]) -> None:
    with grpc.insecure_channel(server.grpc_endpoint) as channel:
        export = channel.unary_unary(EXPORT_METHOD)
        for attempt in range(100):
            try:
                export(export_body(number, 500), timeout=30)
                return
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
                refusals.append(exc)
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError(f"request {number} never accepted")


def sdk_spans(count: int) -> list[ReadableSpan]:
    """Finished spans from the real SDK, with distinct trace ids."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("backpressure")
    for _ in range(count):
        with tracer.start_as_current_span("step", attributes={"pad": "x" * 200}):
            pass
    provider.shutdown()
    spans = list(memory.get_finished_spans())
    assert len({s.context.trace_id for s in spans}) == count
    return spans


def export_into(
    exporter: HttpSpanExporter | GrpcSpanExporter,
    spans: list[ReadableSpan],
    results: list[SpanExportResult],
) -> None:
    results.append(exporter.export(spans))


def run_threads(targets: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if errors:
        raise errors[0]


def test_full_queue_answers_503_and_unavailable_and_drops_nothing(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "server",
        env={"SPENDSCOPE_MAX_QUEUED_SPANS": "1", "SPENDSCOPE_RETRY_AFTER_SECONDS": "1"},
    ).start()
    try:
        # Raw clients: concurrent large requests until both transports have been refused.
        http_refusals: list[httpx.Response] = []
        grpc_refusals: list[grpc.RpcError] = []
        numbers = itertools.count(1)
        sent: list[int] = []
        for _ in range(10):
            if http_refusals and grpc_refusals:
                break
            batch = [next(numbers) for _ in range(12)]
            sent += batch
            run_threads(
                [
                    functools.partial(http_until_stored, server, n, http_refusals)
                    if n % 2
                    else functools.partial(grpc_until_stored, server, n, grpc_refusals)
                    for n in batch
                ]
            )
        assert http_refusals, "the queue never filled"
        assert grpc_refusals, "the queue never filled for gRPC"
        for response in http_refusals:
            assert response.headers["retry-after"] == "1"
            status = status_pb2.Status.FromString(response.content)
            assert status.code == code_pb2.UNAVAILABLE
        assert unavailable_count(server, "http") == len(http_refusals)
        assert unavailable_count(server, "grpc") == len(grpc_refusals)

        # The real OTel exporters retry the 503s and UNAVAILABLEs until everything is stored.
        exported: list[ReadableSpan] = []
        for _ in range(5):
            http_before = unavailable_count(server, "http")
            grpc_before = unavailable_count(server, "grpc")
            results: list[SpanExportResult] = []
            spans = sdk_spans(8 * 400)
            exported += spans
            chunks = [spans[i : i + 400] for i in range(0, len(spans), 400)]
            exporters = [
                HttpSpanExporter(endpoint=f"{server.http_url}/v1/traces", timeout=60)
                if i % 2
                else GrpcSpanExporter(endpoint=server.grpc_endpoint, insecure=True, timeout=60)
                for i in range(len(chunks))
            ]
            run_threads(
                [
                    functools.partial(export_into, e, c, results)
                    for e, c in zip(exporters, chunks, strict=True)
                ]
            )
            for exporter in exporters:
                exporter.shutdown()
            assert results == [SpanExportResult.SUCCESS] * len(chunks)
            if (
                unavailable_count(server, "http") > http_before
                and unavailable_count(server, "grpc") > grpc_before
            ):
                break
        else:
            raise AssertionError("the exporters were never refused: no retry was exercised")
    finally:
        assert server.stop() == 0

    stored = stored_per_trace(server.database_path)
    for number in sent:
        assert stored.pop(number) == 500
    exported_traces = {s.context.trace_id for s in exported}
    assert set(stored) == exported_traces
    assert all(count == 1 for count in stored.values())


# --- attribution after a restart ---------------------------------------------------------


def traced_request(trace: int, parts: str) -> bytes:
    """A trace of one feature: root (r) with two model calls (a, b) under a step (s)."""
    spans = []
    if "r" in parts:
        spans.append(
            otlp.span(
                trace,
                1,
                name="handle",
                attributes={
                    "spendscope.feature": f"feature-{trace % 3}",
                    "session.id": f"session-{trace}",
                    "spendscope.tenant": "acme",
                },
            )
        )
    if "s" in parts:
        spans.append(otlp.span(trace, 2, 1, name="step", attributes={"user.id": f"u{trace}"}))
    for number, letter in ((3, "a"), (4, "b")):
        if letter in parts:
            spans.append(otlp.span(trace, number, 2, name="chat", attributes=otlp.MODEL_CALL))
    return otlp.request(spans).SerializeToString()


def send_all(server: ServerProcess, bodies: list[bytes]) -> None:
    with httpx.Client(timeout=30) as client:
        for body in bodies:
            assert post(client, server.http_url, body).status_code == 200


def model_calls(database: Path) -> dict[tuple[int, int], tuple[object, ...]]:
    with duckdb.connect(str(database), read_only=True) as conn:
        rows = conn.execute(
            "SELECT trace_id, span_id, feature, session_id, user_id, tenant_id,"
            " attributed_batch_id FROM model_calls"
        ).fetchall()
        spans = conn.execute("SELECT count(*) FROM spans WHERE is_model_call").fetchone()
        state = conn.execute(
            "SELECT watermark, (SELECT max(batch_id) FROM spans) FROM job_state"
            " WHERE name = 'attribution'"
        ).fetchone()
    assert spans is not None and state is not None
    assert len(rows) == spans[0], "model_calls rows differ from model-call spans"
    assert state[0] == state[1], "the attribution watermark is not at the last batch"
    return {(int.from_bytes(r[0], "big"), int.from_bytes(r[1], "big")): tuple(r[2:]) for r in rows}


def test_attribution_resumes_from_its_watermark_after_kill(tmp_path: Path) -> None:
    data_dir = tmp_path / "server"
    server = ServerProcess(data_dir).start()
    send_all(server, [traced_request(t, "rsab") for t in range(1, 21)])
    # Children whose root has not arrived yet: attributed as orphans for now.
    send_all(server, [traced_request(t, "sab") for t in range(21, 31)])
    server.wait_attributed(timeout=90)
    server.kill()
    before = model_calls(server.database_path)
    assert len(before) == 60
    assert before[(25, 3)][:4] == (None, None, "u25", None)

    server = ServerProcess(data_dir).start()
    # The late roots arrive, with a stream of new complete traces; kill -9 mid-stream.
    ledger = Ledger(itertools.count(100))
    send_all(server, [traced_request(t, "r") for t in range(21, 31)])
    stop = threading.Event()
    thread = threading.Thread(
        target=lambda: send_stream(server, ledger, stop), name="stream", daemon=True
    )
    thread.start()
    wait_for(lambda: ledger.acked_count() >= 15, 90, "acknowledgements")
    server.kill()
    stop.set()
    thread.join(30)

    server = ServerProcess(data_dir).start()
    server.wait_attributed(timeout=90)
    assert server.stop() == 0
    after = model_calls(server.database_path)

    stored = stored_per_trace(server.database_path)
    assert ledger.acked <= set(stored)
    assert {trace for trace, _ in after} == set(range(1, 31)) | (ledger.sent & set(stored))
    for (trace, span_number), row in after.items():
        assert row[:4] == (f"feature-{trace % 3}", f"session-{trace}", f"u{trace}", "acme"), (
            trace,
            span_number,
        )
    # Traces that got nothing new were not re-resolved after the restart.
    for key in ((t, s) for t in range(1, 21) for s in (3, 4)):
        assert after[key][4] == before[key][4]


def send_stream(server: ServerProcess, ledger: Ledger, stop: threading.Event) -> None:
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            number = ledger.next()
            try:
                response = post(client, server.http_url, traced_request(number, "rsab"))
            except httpx.TransportError:
                return
            if response.status_code == 200:
                ledger.ack(number)
