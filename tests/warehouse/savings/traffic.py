"""Sample traffic in a real warehouse for the savings tests: sessions of the sample product
(`sample_data.traffic`) emitted through the real OTel SDK, encoded as OTLP protobuf, decoded
by the collector, stored, then attributed, priced and their outcomes extracted by the jobs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

import duckdb
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from collector.ingest.bodies import PROTOBUF
from collector.ingest.normalize import Normalizer
from collector.ingest.traces.decode import decode_traces
from sample_data.export import SeededIds
from sample_data.traffic import SampleTraffic, Session
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.outcomes import extraction
from warehouse.pricing import job as pricing
from warehouse.spans import attribution
from warehouse.spans.insert import insert_spans, last_batch_id


def tracer_provider(
    seed: int = 7, resource: Mapping[str, str] | None = None
) -> tuple[TracerProvider, InMemorySpanExporter]:
    """An SDK provider keeping its spans in memory (ids deterministic for a seed)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "sample", **(resource or {})}),
        id_generator=SeededIds(seed),
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def store_spans(cursor: duckdb.DuckDBPyConnection, spans: Sequence[ReadableSpan]) -> None:
    """Store finished spans as the service does (OTLP protobuf, decoded by the collector),
    then run the attribution, outcome and pricing jobs."""
    body = encode_spans(spans).SerializeToString()
    decoded = decode_traces(body, PROTOBUF, Normalizer())
    assert not decoded.rejected, decoded.rejection_message
    now = dt.datetime.now(dt.UTC)
    cursor.begin()
    insert_spans(cursor, decoded.table, last_batch_id(cursor) + 1, now)
    cursor.commit()
    for name in (attribution.NAME, extraction.NAME, pricing.NAME):
        run_job(cursor, JOBS[name], now)


def store_sessions(
    cursor: duckdb.DuckDBPyConnection, sessions: Iterable[Session], seed: int = 7
) -> SampleTraffic:
    """Emit the sessions of the sample product and store them."""
    provider, memory = tracer_provider(seed)
    traffic = SampleTraffic(provider.get_tracer("sample"), seed=seed)
    for session in sessions:
        traffic.emit(session)
    provider.shutdown()
    store_spans(cursor, memory.get_finished_spans())
    return traffic
