"""`spendscope demo`: the service, with sample traffic sent to it over OTLP/HTTP."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from collector.settings import Settings
from sample_data.traffic import VALUE_UNITS, SampleTraffic, tracer_provider

log = logging.getLogger(__name__)

DEMO_SESSIONS = 200


def wait_ready(base_url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"spendscope at {base_url} was not ready within {timeout:.0f} s")


def send_sample_traffic(settings: Settings) -> None:
    base_url = f"http://{settings.host}:{settings.http_port}"
    wait_ready(base_url)
    headers = (
        {"Authorization": f"Bearer {settings.ingest_tokens[0]}"} if settings.ingest_tokens else None
    )
    provider = tracer_provider(
        OTLPSpanExporter(endpoint=f"{base_url}/v1/traces", headers=headers), "demo-app", "demo"
    )
    summary = SampleTraffic(provider.get_tracer("spendscope.demo")).run(DEMO_SESSIONS)
    provider.shutdown()
    log.info(
        "sent %d traces with %d model calls and %d outcomes; try %s/api/v1/unit-economics",
        summary.traces,
        summary.model_calls,
        summary.outcomes,
        base_url,
    )


def run_demo(settings: Settings, serve: Callable[[Settings], None]) -> None:
    if not settings.value_units:  # the sample features' value units, unless set otherwise
        settings = settings.model_copy(update={"value_units": VALUE_UNITS})
    threading.Thread(
        target=send_sample_traffic, args=(settings,), name="demo-traffic", daemon=True
    ).start()
    serve(settings)
