"""Time to first token at ingest: the instrumentations' keys and units, decoded by the real
OTLP decoder into `time_to_first_token_ms`; values that cannot be one are not stored (the
span is), and say so."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.ingest.normalize import Normalizer
from collector.ingest.traces.decode import PROTOBUF, decode_traces
from sample_data.harness import otlp

START = 1_767_225_600 * 10**9  # 2026-01-01


def decoded(*first_tokens: tuple[str, Any]) -> list[float | None]:
    """One 2-second chat span per (key, value); their stored times to first token."""
    spans = [
        Span(
            trace_id=otlp.trace_id(1),
            span_id=otlp.span_id(n),
            name="chat",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=START,
            end_time_unix_nano=START + 2 * 10**9,
            attributes=otlp.key_values({"gen_ai.operation.name": "chat", key: value}),
        )
        for n, (key, value) in enumerate(first_tokens, start=1)
    ]
    body = otlp.request(spans).SerializeToString()
    result = decode_traces(body, PROTOBUF, Normalizer())
    assert result.rejected == 0, result.rejection_message
    values: list[float | None] = result.table.column("time_to_first_token_ms").to_pylist()
    return values


def test_each_instrumentations_key_in_its_unit() -> None:
    assert decoded(
        ("gen_ai.response.time_to_first_chunk", 0.25),  # OTel GenAI: seconds
        ("gen_ai.server.time_to_first_token", 0.5),  # OpenLIT: seconds
        ("gen_ai.latency.time_to_first_token", 1),  # vLLM: seconds
        ("ai.response.msToFirstChunk", 300),  # Vercel AI SDK: milliseconds
        ("ai.stream.msToFirstChunk", "125.5"),  # older Vercel, as a string
        ("gen_ai.request.model", "gpt-4o"),  # none at all
    ) == [250.0, 500.0, 1000.0, 300.0, 125.5, None]


def test_values_that_cannot_be_a_time_to_first_token_are_dropped_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="collector.ingest.latency"):
        stored = decoded(
            ("gen_ai.response.time_to_first_chunk", -0.1),  # negative
            ("gen_ai.response.time_to_first_chunk", 2.5),  # longer than the 2 s span
            ("ai.response.msToFirstChunk", "soon"),  # not a number
            ("ai.response.msToFirstChunk", True),  # a boolean
            ("gen_ai.response.time_to_first_chunk", float("nan")),
            ("gen_ai.response.time_to_first_chunk", 2.0005),  # within the 1 ms rounding
        )
    assert stored == [None, None, None, None, None, pytest.approx(2000.5)]
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith("5 time-to-first-token value(s)") and "-100 ms" in warning
