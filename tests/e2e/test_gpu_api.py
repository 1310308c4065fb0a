"""GPU metrics end to end on the real server: OTLP metrics over HTTP (protobuf, JSON, gzip)
and gRPC, from the real OTel SDK MeterProvider and from generated DCGM and vLLM series;
`/api/v1/gpu/efficiency` and `/api/v1/gpu/allocation` against hand-computed figures."""

from __future__ import annotations

import datetime as dt
import gzip
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from sample_data.harness.server import ServerProcess
from tests.support import gpu_series as series
from tests.support.otlp_clients import metric

PROTOBUF = {"content-type": "application/x-protobuf"}
METRICS_EXPORT = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
WINDOW = {
    "start": series.DAY.isoformat(),
    "end": (series.DAY + dt.timedelta(hours=4)).isoformat(),
}


def _wait_for(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def _post_metrics(server: ServerProcess, body: bytes, headers: dict[str, str]) -> None:
    response = server.client.post(f"{server.http_url}/v1/metrics", content=body, headers=headers)
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def gpu_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with the $4/GPU-hour H100 price, fed the generated series over every
    transport, and the calls they served."""
    data_dir: Path = tmp_path_factory.mktemp("gpu")
    (data_dir / "prices.toml").write_text(series.PRICE_FILE)
    env = {"SPENDSCOPE_API_TOKENS": "admin", "SPENDSCOPE_TENANT_TOKENS": "acme:acme-token"}
    with ServerProcess(data_dir, env=env) as server:
        dcgm = series.dcgm_exports()
        _post_metrics(server, dcgm[0].SerializeToString(), PROTOBUF)
        _post_metrics(
            server,
            gzip.compress(dcgm[1].SerializeToString()),
            PROTOBUF | {"content-encoding": "gzip"},
        )
        with grpc.insecure_channel(server.grpc_endpoint) as channel:
            export = channel.unary_unary(
                METRICS_EXPORT, response_deserializer=ExportMetricsServiceResponse.FromString
            )
            response = export(dcgm[2].SerializeToString(), timeout=10)
            assert not response.HasField("partial_success")
        _post_metrics(
            server,
            json_format.MessageToJson(dcgm[3]).encode(),
            {"content-type": "application/json"},
        )
        vllm = series.vllm_export().SerializeToString()
        _post_metrics(server, vllm, PROTOBUF)
        _post_metrics(server, vllm, PROTOBUF)  # an exporter's retry: stored once
        _post_metrics(server, series.unknown_export().SerializeToString(), PROTOBUF)
        response = server.client.post(
            f"{server.http_url}/v1/traces",
            content=series.call_export().SerializeToString(),
            headers=PROTOBUF,
        )
        assert response.status_code == 200
        yield server


def _allocation(server: ServerProcess, **params: Any) -> dict[str, Any]:
    response = server.get("/api/v1/gpu/allocation", **WINDOW, **params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _allocated(server: ServerProcess) -> bool:
    deployments = _allocation(server)["deployments"]
    return bool(deployments) and deployments[0]["allocated_usd"] == "22"


def test_efficiency_matches_the_hand_computed_figures(gpu_server: ServerProcess) -> None:
    assert _wait_for(lambda: _allocated(gpu_server)), _allocation(gpu_server)
    response = gpu_server.get("/api/v1/gpu/efficiency", **WINDOW, reference="openai/gpt-4o-mini")
    assert response.status_code == 200, response.text
    body = response.json()
    totals = body["totals"]
    assert body["reference"] == {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_mtok": "0.15",
        "output_mtok": "0.6",
    }
    assert totals | {"tokens_per_gpu_second": None} == {
        "gpus": 2,
        "gpu_hours": "7.500000",
        "busy_gpu_hours": "3.375000",
        "idle_gpu_hours": "4.125000",
        "utilization": 0.45,
        "unpriced_gpu_hours": "0.000000",
        "cost_usd": "30",
        "idle_cost_usd": "16.5",
        "prompt_tokens": 77_500,
        "generation_tokens": 38_750,
        "tokens_per_gpu_second": None,
        "cost_per_million_tokens_usd": "258.064516129",  # 30 / 0.11625
        "reference_cost_usd": "0.034875",  # 77,500 x 0.15 + 38,750 x 0.6, per million
        "savings_vs_reference_usd": "-29.965125",
        "requests_running": pytest.approx(5.5),
        "requests_waiting": pytest.approx(0.75),
        "kv_cache_usage": None,
    }
    assert totals["tokens_per_gpu_second"] == pytest.approx(116_250 / 27_000)
    assert [row["deployment"] for row in body["rows"]] == ["llama"]

    hourly = gpu_server.get("/api/v1/gpu/efficiency", **WINDOW, grain="hour").json()["rows"]
    assert [row["cost_usd"] for row in hourly] == ["8", "8", "8", "6"]
    assert [row["idle_cost_usd"] for row in hourly] == ["8", "4", "0", "4.5"]
    assert [row["utilization"] for row in hourly] == [0.0, 0.5, 1.0, 0.25]
    assert [row["requests_waiting"] for row in hourly] == [0.0, 0.0, 3.0, 0.0]


def test_allocation_reaches_features_and_tenants(gpu_server: ServerProcess) -> None:
    assert _wait_for(lambda: _allocated(gpu_server))
    body = _allocation(gpu_server, group_by="feature")
    assert body["deployments"] == [
        {
            "deployment": "llama",
            "cost_usd": "30",
            "idle_cost_usd": "16.5",
            "allocated_usd": "22",
            "allocated_idle_usd": "8.5",
            "unallocated_usd": "8",  # the idle night served no call
            "unpriced_gpu_hours": "0.000000",
            "calls": 7,
        }
    ]
    rows = {row["dimensions"]["feature"]: row for row in body["rows"]}
    assert {feature: row["cost_usd"] for feature, row in rows.items()} == {
        "chat": "12.8",
        "draft": "6",
        "search": "3.2",
    }
    assert rows["search"]["idle_cost_usd"] == "1.6"
    assert rows["search"]["busy_cost_usd"] == "1.6"

    # The allocated cost is the calls' cost in the cost API: chat's calls cost only GPU.
    def chat_cost() -> bool:
        costs = gpu_server.get("/api/v1/costs", group_by="feature", **WINDOW).json()
        by_feature = {row["dimensions"]["feature"]: row["cost_usd"] for row in costs["rows"]}
        return by_feature.get("chat") == "12.8" and by_feature.get("draft") == "6"

    assert _wait_for(chat_cost)

    # A tenant's token sees its own calls' share, not the fleet.
    acme = {"authorization": "Bearer acme-token"}
    scoped = gpu_server.get(
        "/api/v1/gpu/allocation", headers=acme, group_by="tenant", **WINDOW
    ).json()
    assert scoped["deployments"] is None
    assert [(row["dimensions"]["tenant"], row["cost_usd"]) for row in scoped["rows"]] == [
        ("acme", "3.2")
    ]
    fleet = gpu_server.get("/api/v1/gpu/efficiency", headers=acme, **WINDOW)
    assert fleet.status_code == 403


def test_points_are_stored_once_and_unknown_metrics_dropped(gpu_server: ServerProcess) -> None:
    points = 4 * 2 * 2 * 360 - 2 * 180 + 4 * 220  # DCGM (less the gap) + vLLM
    assert metric(gpu_server, "spendscope_metric_points_total", outcome="written") == points
    assert metric(gpu_server, "spendscope_metric_points_total", outcome="duplicate") == 4 * 220
    assert metric(gpu_server, "spendscope_metric_points_total", outcome="ignored") == 2


def test_a_bad_body_is_a_400_and_an_unknown_reference_too(gpu_server: ServerProcess) -> None:
    response = gpu_server.client.post(
        f"{gpu_server.http_url}/v1/metrics", content=b"\xff\x00garbage", headers=PROTOBUF
    )
    assert response.status_code == 400
    response = gpu_server.get("/api/v1/gpu/efficiency", reference="nobody/no-such-model")
    assert response.status_code == 400
    assert "no price for reference model" in response.json()["detail"]


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_the_otel_sdk_meter_provider_exports_gpu_metrics(
    shared_server: ServerProcess, transport: str
) -> None:
    """The SDK's own OTLP metric exporters: a DCGM engine-activity gauge at 0.5 and an
    instrument spendscope does not know, collected twice a second apart and at shutdown."""
    deployment = f"sdk-{transport}"
    exporter: MetricExporter = (
        HttpMetricExporter(endpoint=f"{shared_server.http_url}/v1/metrics")
        if transport == "http"
        else GrpcMetricExporter(endpoint=shared_server.grpc_endpoint, insecure=True)
    )
    ignored_before = metric(shared_server, "spendscope_metric_points_total", outcome="ignored")

    def engine_active(options: CallbackOptions) -> list[Observation]:
        return [Observation(0.5, {"UUID": f"GPU-{transport}", "modelName": "NVIDIA L4"})]

    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"spendscope.deployment": deployment}),
    )
    meter = provider.get_meter("dcgm-bridge")
    meter.create_observable_gauge("DCGM_FI_PROF_GR_ENGINE_ACTIVE", [engine_active])
    meter.create_counter("app.requests").add(3)
    first_collection = time.monotonic()
    assert provider.force_flush()
    time.sleep(1.0)
    assert provider.force_flush()
    provider.shutdown()
    collections_span = time.monotonic() - first_collection

    now = dt.datetime.now(dt.UTC)
    window = {
        "start": (now - dt.timedelta(hours=2)).isoformat(),
        "end": (now + dt.timedelta(hours=1)).isoformat(),
        "deployment": deployment,
    }

    def figures() -> dict[str, Any] | None:
        rows = shared_server.get("/api/v1/gpu/efficiency", **window).json()["rows"]
        return rows[0] if rows and Decimal(rows[0]["gpu_hours"]) > 0 else None

    assert _wait_for(figures) is not None
    shared_server.wait_attributed()  # every point in, the efficiency job caught up
    row = figures()
    assert row is not None
    # Busy time is whole milliseconds, rounded once per GPU-hour.
    assert row["utilization"] == pytest.approx(0.5, abs=1e-3)
    # Samples at t, t + 1 s and (at shutdown) a moment later: the first stands for the
    # second until the next, the others for the short gap between them: just over 1 s
    # (on a busy machine the gaps stretch: at most twice the time the collections took).
    upper = Decimal(2 * collections_span / 3600).quantize(Decimal("0.000001"))
    assert Decimal("0.00027") < Decimal(row["gpu_hours"]) <= max(upper, Decimal("0.0006"))
    assert row["unpriced_gpu_hours"] == row["gpu_hours"]  # no GPU price: unpriced, not $0
    assert row["cost_usd"] == "0"
    ignored = metric(shared_server, "spendscope_metric_points_total", outcome="ignored")
    assert ignored - ignored_before == 3  # app.requests, in each of the three exports


def test_a_full_metric_queue_answers_503_and_every_point_lands_once(tmp_path: Path) -> None:
    """Metrics follow the spans' backpressure rule: past SPENDSCOPE_MAX_QUEUED_METRIC_POINTS
    a request is refused with 503 and Retry-After (counted as refused), never half-stored;
    clients that retry as exporters do get every point stored exactly once."""
    server = ServerProcess(
        tmp_path / "server",
        env={"SPENDSCOPE_MAX_QUEUED_METRIC_POINTS": "1", "SPENDSCOPE_RETRY_AFTER_SECONDS": "1"},
    ).start()
    bodies = [export.SerializeToString() for export in series.dcgm_exports()]
    refusals: list[str | None] = []
    lock = threading.Lock()

    def export_until_stored(body: bytes) -> None:
        for _ in range(60):
            response = server.client.post(
                f"{server.http_url}/v1/metrics", content=body, headers=PROTOBUF
            )
            if response.status_code == 200:
                return
            assert response.status_code == 503, response.text
            with lock:
                refusals.append(response.headers.get("retry-after"))
            time.sleep(0.2)
        raise AssertionError("never stored")

    try:
        for _ in range(10):  # concurrent rounds until the queue has refused some
            threads = [threading.Thread(target=export_until_stored, args=(b,)) for b in bodies]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
            if refusals:
                break
        assert refusals, "the queue never filled"
        assert set(refusals) == {"1"}
        assert metric(server, "spendscope_metric_points_total", outcome="refused") > 0
        points = 4 * 2 * 2 * 360 - 2 * 180
        assert metric(server, "spendscope_metric_points_total", outcome="written") == points
    finally:
        assert server.stop() == 0
