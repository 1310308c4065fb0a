"""`spendscope demo --auth` prints both tokens (issue 17, item 10): it used to print only
the API token, and spans sent with it were refused (401). A real OTel SDK exporter sends
spans with the printed ingest token, and they are stored."""

from __future__ import annotations

import time
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.support.demo_process import DemoProcess

SESSION = "sess-auth-check"


def send_one_call(url: str, token: str) -> SpanExportResult:
    """One model call over OTLP/HTTP, sent as an OTel SDK sends it."""
    exporter = OTLPSpanExporter(
        endpoint=f"{url}/v1/traces", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    span = (
        TracerProvider()
        .get_tracer("t")
        .start_span(
            "chat gpt-4o-mini",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 100,
                "gen_ai.usage.output_tokens": 10,
                "session.id": SESSION,
            },
        )
    )
    span.end()
    assert isinstance(span, ReadableSpan)
    try:
        return exporter.export([span])
    finally:
        exporter.shutdown()


def test_demo_auth_prints_an_ingest_token_that_ingest_accepts(tmp_path: Path) -> None:
    with DemoProcess(tmp_path / "demo", "--auth", "--days", "0.2", "--rate", "0") as demo:
        text = demo.text()
        assert demo.token, text
        assert "Ingest token  " in text, text
        ingest = text.split("Ingest token  ", 1)[1].split()[0]
        assert ingest != demo.token
        assert send_one_call(demo.api_url, demo.token) is SpanExportResult.FAILURE  # 401
        assert send_one_call(demo.api_url, ingest) is SpanExportResult.SUCCESS
        deadline = time.monotonic() + 60
        while True:
            calls = demo.get("/api/v1/spans", session_id=SESSION).json()["spans"]
            if calls or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert len(calls) == 1
        assert calls[0]["request_model"] == "gpt-4o-mini"
