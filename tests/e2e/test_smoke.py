from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from sample_data.harness.server import ServerProcess
from sample_data.traffic import SampleTraffic, tracer_provider


def test_sample_traffic_lands_attributed(server: ServerProcess) -> None:
    provider = tracer_provider(
        OTLPSpanExporter(endpoint=f"{server.http_url}/v1/traces"), "smoke", "test"
    )
    summary = SampleTraffic(provider.get_tracer("smoke"), seed=1).run(8)
    provider.shutdown()
    server.wait_attributed()
    spans = []
    for n in range(8):
        spans += server.get("/api/v1/spans", session_id=f"sess-{n:05d}").json()["spans"]
    assert len(spans) == summary.model_calls
    assert all(s["attributed"] and s["feature"] for s in spans)
    assert {s["feature"] for s in spans} == {
        "support-agent",
        "search",
        "writing-assistant",
        "summarizer",
    }
