"""A real server with something on each operations page of the dashboard: three hours of
DCGM and vLLM metrics of a two-GPU deployment and the calls it served (GPU), a spend
anomaly found by the real detector on a generated history, a looping session and a blown
budget found live (anomalies and budgets), and the incidents they opened, delivered to
loopback Slack (which fails once) and PagerDuty stand-ins (alerts). The detection file and
the sessions are those of tests/e2e/test_detection_e2e.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Tracer

from sample_data.harness.alert_receivers import Receiver, failure
from sample_data.harness.otlp import Attributes, key_values
from sample_data.harness.server import ServerProcess
from tests.e2e.test_alerts_e2e import wait_for
from tests.e2e.test_detection_e2e import DETECTION_FILE, LOOP_CALLS, PEERS, send_session
from tests.support.genai_spans import chat_call, nanos
from tests.warehouse.detection.test_anomalies import CONFIG, SPIKE_HOUR, START, fill
from warehouse.detection import anomalies
from warehouse.store.database import Database

ADMIN, ACME = "admin-token", "acme-token"
ROUTING_KEY = "OPSROUTINGKEYOPSROUTINGKEYOPS123"
DEPLOYMENT = "llama"
ADDRESS = "vllm-llama.internal"
SERVED_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
GPUS = ("GPU-aaaaaaaa-0000", "GPU-bbbbbbbb-0001")
ENGINE_ACTIVE = (0.25, 0.5, 1.0)  # per hour, the three hours before the current one
PROMPT_PER_MINUTE = (100, 400, 1000)
PRICE_FILE = """
[[gpu_prices]]
gpu_model = "NVIDIA H100*"
pricing = "on_demand"
usd_per_gpu_hour = "4"
"""
RUNAWAY = "runaway-ops"
# GPU-served calls: (minutes after the first metric hour, feature, tenant, tokens in, out).
GPU_CALLS = (
    (70, "search", "acme", 800, 200),
    (80, "search", "acme", 400, 100),
    (90, "chat", "globex", 1600, 400),
    (130, "chat", "globex", 500, 500),
    (150, "chat", "acme", 500, 500),
)


@dataclass
class OpsStack:
    server: ServerProcess
    slack: Receiver
    pagerduty: Receiver
    first_gpu_hour: dt.datetime

    def stop(self) -> None:
        self.server.kill()
        self.server.client.close()
        self.slack.down()
        self.pagerduty.down()


def gpu_metrics(first_hour: dt.datetime) -> ExportMetricsServiceRequest:
    """Both GPUs' engine activity every 10 s and vLLM's token counters every minute."""
    engine = Metric(name="DCGM_FI_PROF_GR_ENGINE_ACTIVE")
    for index, uuid in enumerate(GPUS):
        labels: Attributes = {
            "gpu": str(index), "UUID": uuid, "modelName": "NVIDIA H100 80GB HBM3",
            "Hostname": "node-1",
        }  # fmt: skip
        for hour, active in enumerate(ENGINE_ACTIVE):
            for second in range(0, 3600, 10):
                moment = first_hour + dt.timedelta(hours=hour, seconds=second)
                point = engine.gauge.data_points.add(time_unix_nano=nanos(moment), as_double=active)
                point.attributes.extend(key_values(labels))
    counters = []
    for name, divisor in (("vllm:prompt_tokens_total", 1), ("vllm:generation_tokens_total", 4)):
        counter = Metric(name=name)
        counter.sum.aggregation_temporality = (
            AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
        )
        counter.sum.is_monotonic = True
        value = 0
        for minute in range(len(ENGINE_ACTIVE) * 60 + 1):
            point = counter.sum.data_points.add(
                time_unix_nano=nanos(first_hour + dt.timedelta(minutes=minute)),
                start_time_unix_nano=nanos(first_hour - dt.timedelta(hours=1)),
                as_double=value / divisor,
            )
            point.attributes.extend(key_values({"model_name": SERVED_MODEL}))
            value += PROMPT_PER_MINUTE[min(minute // 60, len(ENGINE_ACTIVE) - 1)]
        counters.append(counter)
    export = ExportMetricsServiceRequest()
    for resource, metrics in (
        ({"service.name": "dcgm", "spendscope.deployment": DEPLOYMENT}, [engine]),
        (
            {"service.name": "vllm", "spendscope.deployment": DEPLOYMENT,
             "server.address": ADDRESS, "server.port": "8000"},
            counters,
        ),
    ):  # fmt: skip
        resource_metrics = export.resource_metrics.add()
        resource_metrics.resource.attributes.extend(key_values(resource))
        scope_metrics = resource_metrics.scope_metrics.add()
        scope_metrics.scope.name = "otelcol/prometheusreceiver"
        scope_metrics.metrics.extend(metrics)
    return export


def seed_spend_anomaly(database_path: Path) -> None:
    """A generated six-week history with five times the calls in one hour, and what the real
    spend-anomaly detector records for it (its signals, found then: weeks ago)."""
    database = Database.open(database_path)
    try:
        fill(database, shape=lambda hour, model: (5.0 if hour == SPIKE_HOUR else 1.0, 1.0, 0.5))
        cursor = database.cursor()
        found = anomalies.detect(cursor, START + dt.timedelta(hours=SPIKE_HOUR + 1), CONFIG)
        assert found, "the detector found no spike"
        anomalies.record_signals(cursor, found)
        cursor.close()
    finally:
        database.close()


def _gpu_calls(tracer: Tracer, first_hour: dt.datetime) -> None:
    for minutes, feature, tenant, tokens_in, tokens_out in GPU_CALLS:
        start = first_hour + dt.timedelta(minutes=minutes)
        root = tracer.start_span(
            "request",
            start_time=nanos(start),
            attributes={"spendscope.feature": feature, "spendscope.tenant": tenant},
        )
        chat_call(
            tracer,
            root,
            start,
            SERVED_MODEL,
            (tokens_in, tokens_out),
            attributes={"server.address": ADDRESS},
        )
        root.end(end_time=nanos(start) + 1_000_000_000)


def ops_server(data_dir: Path) -> OpsStack:
    """Started, populated, with every finding detected and every first notice delivered."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "prices.toml").write_text(PRICE_FILE)
    (data_dir / "detection.toml").write_text(DETECTION_FILE)
    seed_spend_anomaly(data_dir / "spendscope.duckdb")
    slack, pagerduty = Receiver("slack").up(), Receiver("pagerduty").up()
    slack.answer(failure("slack", 503))  # the first notice is retried
    env = {
        "SPENDSCOPE_API_TOKENS": ADMIN,
        "SPENDSCOPE_TENANT_TOKENS": f"acme:{ACME}",
        "SPENDSCOPE_DETECTION_INTERVAL_SECONDS": "2",
        "SPENDSCOPE_RUNAWAY_INTERVAL_SECONDS": "2",
        "SPENDSCOPE_ALERT_WARNING_USD": "0.01",
        "SPENDSCOPE_ALERT_CRITICAL_USD": "1",
        "SPENDSCOPE_SLACK_WEBHOOK_URL": slack.url("/services/TOPS/BOPS/opsSecretPath"),
        "SPENDSCOPE_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "SPENDSCOPE_PAGERDUTY_EVENTS_URL": pagerduty.url("/v2/enqueue"),
        "SPENDSCOPE_ALERT_DELIVERY_POLL_SECONDS": "0.1",
        "SPENDSCOPE_ALERT_RETRY_INITIAL_SECONDS": "0.2",
        "SPENDSCOPE_ALERT_RETRY_MAX_SECONDS": "1",
    }
    server = ServerProcess(data_dir, env=env)
    stack = OpsStack(server, slack, pagerduty, first_gpu_hour=_first_gpu_hour())
    try:
        server.start()
        response = server.client.post(
            f"{server.http_url}/v1/metrics",
            content=gpu_metrics(stack.first_gpu_hour).SerializeToString(),
            headers={"content-type": "application/x-protobuf"},
        )
        assert response.status_code == 200, response.text
        provider = TracerProvider(resource=Resource.create({"service.name": "agents"}))
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{server.http_url}/v1/traces"))
        )
        tracer = provider.get_tracer("ops")
        _gpu_calls(tracer, stack.first_gpu_hour)
        for number in range(PEERS):
            send_session(provider, f"peer-{number}", "globex", "research-agent", 2)
        server.wait_attributed(timeout=90)
        send_session(provider, RUNAWAY, "acme", "research-agent", LOOP_CALLS)
        provider.shutdown()

        def found(kind: str) -> bool:
            return bool(server.get("/api/v1/anomalies", kind=kind).json()["anomalies"])

        def delivered() -> bool:
            alerts = server.get("/api/v1/alerts", status="open").json()["alerts"]
            kinds = {a["kind"] for a in alerts}
            deliveries = [d for a in alerts for d in a["deliveries"]]
            return kinds >= {"runaway_session", "budget"} and all(
                d["status"] == "sent" for d in deliveries
            )

        wait_for(lambda: found("runaway_session") and found("budget"), "runaway, budget", 90)
        wait_for(delivered, "incidents delivered", 90)
        server.wait_attributed(timeout=90)
    except BaseException:
        stack.stop()
        raise
    return stack


def _first_gpu_hour() -> dt.datetime:
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return hour - dt.timedelta(hours=len(ENGINE_ACTIVE))
