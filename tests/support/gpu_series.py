"""Generated DCGM and vLLM series for the GPU tests, with hand-computed expectations.

One deployment, `llama`, on two H100s at $4 per GPU-hour, over four hours from DAY:

| hour | GR_ENGINE_ACTIVE | GPU time     | cost | idle  | prompt tokens | generation |
|------|------------------|--------------|------|-------|---------------|------------|
| 0    | 0 (idle night)   | 2 x 3600 s   | $8   | $8    | 0             | 0          |
| 1    | 0.5              | 2 x 3600 s   | $8   | $4    | 6,000         | 3,000      |
| 2    | 1.0 (saturated)  | 2 x 3600 s   | $8   | $0    | 59,500 (reset)| 29,750     |
| 3    | 0.25             | 3600 + 1800 s| $6   | $4.50 | 12,000 (gap)  | 6,000      |

DCGM samples every 10 s. GPU 2 has no samples from 03:10 to 03:40 (a gap longer than the
120 s maximum): the sample before the gap and the last sample stand for 10 s each, so GPU 2
has 600 + 1,200 s in hour 3. vLLM counters every minute, start time long before the first
point (so that point is a baseline): +0 per minute in hour 0, +100 in hour 1, +1,000 in hour
2 with a restart at 02:30 (the counter restarts at 500, its new start time 02:29:30), +200
in hour 3 with no points from 03:20 to 03:39 (the point at 03:40 carries 21 minutes). The
generation counter is half the prompt counter throughout.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from sample_data.harness.otlp import Attributes, key_values, request, span_id, trace_id

CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
DAY = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
DEPLOYMENT = "llama"
SERVED_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
ADDRESS = "vllm-llama.internal"
GPU_MODEL = "NVIDIA H100 80GB HBM3"
GPUS = ("GPU-aaaaaaaa-0000", "GPU-bbbbbbbb-0001")
ENGINE_ACTIVE = (0.0, 0.5, 1.0, 0.25)
PRICE_FILE = """
[[gpu_prices]]
gpu_model = "NVIDIA H100*"
pricing = "on_demand"
usd_per_gpu_hour = "4"
"""

# Hand-computed, per hour.
COST = (Decimal(8), Decimal(8), Decimal(8), Decimal(6))
IDLE = (Decimal(8), Decimal(4), Decimal(0), Decimal("4.5"))
GPU_SECONDS = (7200, 7200, 7200, 5400)
PROMPT = (0, 6000, 59500, 12000)
GENERATION = (0, 3000, 29750, 6000)


def ns(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000


def _metric(name: str, kind: str) -> Metric:
    metric = Metric(name=name)
    if kind == "sum":
        metric.sum.aggregation_temporality = (
            AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
        )
        metric.sum.is_monotonic = True
    return metric


def _export(
    resource: Attributes, metrics: Iterable[Metric], scope: str = "otelcol/prometheusreceiver"
) -> ExportMetricsServiceRequest:
    export = ExportMetricsServiceRequest()
    resource_metrics = export.resource_metrics.add()
    resource_metrics.resource.attributes.extend(key_values(resource))
    scope_metrics = resource_metrics.scope_metrics.add()
    scope_metrics.scope.name = scope
    scope_metrics.metrics.extend(metrics)
    return export


def dcgm_exports() -> list[ExportMetricsServiceRequest]:
    """One export per hour: both GPUs' GR_ENGINE_ACTIVE and GPU_UTIL, every 10 s."""
    exports = []
    for hour, active in enumerate(ENGINE_ACTIVE):
        engine = _metric("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge")
        util = _metric("DCGM_FI_DEV_GPU_UTIL", "gauge")
        for index, uuid in enumerate(GPUS):
            labels: Mapping[str, str | int | float | bool] = {
                "gpu": str(index), "UUID": uuid, "modelName": GPU_MODEL, "Hostname": "node-1",
            }  # fmt: skip
            for second in range(0, 3600, 10):
                if hour == 3 and index == 1 and 600 <= second < 2400:
                    continue
                moment = ns(DAY + dt.timedelta(hours=hour, seconds=second))
                point = engine.gauge.data_points.add(time_unix_nano=moment, as_double=active)
                point.attributes.extend(key_values(labels))
                # GPU_UTIL says 100 % whenever a kernel ran: engine activity must win.
                point = util.gauge.data_points.add(time_unix_nano=moment, as_int=100)
                point.attributes.extend(key_values(labels))
        exports.append(
            _export({"service.name": "dcgm", "spendscope.deployment": DEPLOYMENT}, [engine, util])
        )
    return exports


def _increments(minute: int) -> int:
    return (0, 100, 1000, 200)[minute // 60] if minute else 0


def vllm_export() -> ExportMetricsServiceRequest:
    """The vLLM counters and gauges, one point a minute, restart and gap included."""
    prompt = _metric("vllm:prompt_tokens_total", "sum")
    generation = _metric("vllm:generation_tokens_total", "sum")
    running = _metric("vllm:num_requests_running", "gauge")
    waiting = _metric("vllm:num_requests_waiting", "gauge")
    labels = {"model_name": SERVED_MODEL, "engine": "0"}
    started = ns(DAY - dt.timedelta(hours=12))
    value = 1000
    for minute in range(240):
        value += _increments(minute)
        if minute == 150:  # restarted at 02:29:30, 500 tokens since
            started, value = ns(DAY + dt.timedelta(hours=2, minutes=29, seconds=30)), 500
        if 200 <= minute < 220:
            continue
        moment = ns(DAY + dt.timedelta(minutes=minute))
        for metric, share in ((prompt, 1), (generation, 2)):
            point = metric.sum.data_points.add(
                time_unix_nano=moment, start_time_unix_nano=started, as_double=value / share
            )
            point.attributes.extend(key_values(labels))
        hour = minute // 60
        for metric, gauge_value in ((running, (0, 4, 16, 2)[hour]), (waiting, (0, 0, 3, 0)[hour])):
            point = metric.gauge.data_points.add(time_unix_nano=moment, as_double=gauge_value)
            point.attributes.extend(key_values(labels))
    return _export(
        {
            "service.name": "vllm",
            "spendscope.deployment": DEPLOYMENT,
            "server.address": ADDRESS,
            "server.port": "8000",
        },
        [prompt, generation, running, waiting],
    )


def vllm_delta_export() -> ExportMetricsServiceRequest:
    """The token counters of `vllm_export` as an SDK with delta temporality sends them: each
    point carries what was counted since the previous one (the restart's 500 included), the
    first point after the gap all of the gap's tokens."""
    cumulative = vllm_export()
    delta = ExportMetricsServiceRequest()
    delta.CopyFrom(cumulative)
    for metric in delta.resource_metrics[0].scope_metrics[0].metrics:
        if metric.WhichOneof("data") != "sum":
            continue
        metric.sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
        previous_value, previous_time = None, None
        for point in metric.sum.data_points:
            value, start = point.as_double, point.start_time_unix_nano
            restarted = previous_value is None or value < previous_value
            point.as_double = (
                value
                if restarted and previous_value is not None
                else (0.0 if previous_value is None else value - previous_value)
            )
            point.start_time_unix_nano = previous_time or start
            previous_value, previous_time = value, point.time_unix_nano
    return delta


def token_usage_histogram_export() -> ExportMetricsServiceRequest:
    """The GenAI client's `gen_ai.client.token.usage` histogram: two points, kept as sum and
    count."""
    metric = Metric(name="gen_ai.client.token.usage")
    metric.histogram.aggregation_temporality = (
        AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    )
    for minute, (total, count) in enumerate(((1200.0, 3), (4500.0, 7))):
        point = metric.histogram.data_points.add(
            time_unix_nano=ns(DAY + dt.timedelta(minutes=minute)),
            start_time_unix_nano=ns(DAY),
            sum=total,
            count=count,
            bucket_counts=[count],
        )
        point.attributes.extend(
            key_values({"gen_ai.token.type": "input", "gen_ai.request.model": SERVED_MODEL})
        )
    return _export({"service.name": "chat-app"}, [metric], scope="opentelemetry.instrumentation")


def hw_gpu_export() -> ExportMetricsServiceRequest:
    """One GPU reported by the OTel hardware conventions for an hour from DAY, every 10 s:
    `hw.gpu.utilization` 0.75 for the general task, 0.9 for the encoder (not compute)."""
    metric = _metric("hw.gpu.utilization", "gauge")
    for second in range(0, 3600, 10):
        for task, value in (("general", 0.75), ("encoder", 0.9)):
            point = metric.gauge.data_points.add(
                time_unix_nano=ns(DAY + dt.timedelta(seconds=second)), as_double=value
            )
            point.attributes.extend(key_values({"hw.id": "gpu-hw-0", "hw.gpu.task": task}))
    return _export(
        {"host.name": "node-2", "hw.model": "NVIDIA L4", "spendscope.deployment": "hw"},
        [metric],
        scope="hostmetrics",
    )


def unknown_export() -> ExportMetricsServiceRequest:
    """Metrics spendscope does not use: acknowledged, never stored."""
    metric = _metric("http.server.request.duration", "gauge")
    metric.gauge.data_points.add(time_unix_nano=ns(DAY), as_double=0.2)
    other = _metric("DCGM_FI_DEV_GPU_TEMP", "gauge")
    other.gauge.data_points.add(time_unix_nano=ns(DAY), as_double=61)
    return _export({"service.name": "web"}, [metric, other])


# Model calls: (trace, minute after DAY, attributes, input tokens, output tokens).
CALLS: tuple[tuple[int, int, dict[str, str], int, int], ...] = (
    # Hour 1: matched by server address; weights 100 / 300 / 600 of $8 (idle $4).
    (901, 70, {"server.address": ADDRESS, "spendscope.feature": "search",
               "spendscope.tenant": "acme"}, 80, 20),
    (902, 80, {"server.address": ADDRESS, "spendscope.feature": "search",
               "spendscope.tenant": "acme"}, 200, 100),
    (903, 90, {"server.address": ADDRESS, "spendscope.feature": "chat",
               "spendscope.tenant": "globex"}, 400, 200),
    # Hour 2: matched by model only; three equal weights share $8.
    (904, 130, {"spendscope.feature": "chat", "spendscope.tenant": "globex"}, 50, 50),
    (905, 140, {"spendscope.feature": "chat", "spendscope.tenant": "globex"}, 50, 50),
    (906, 150, {"spendscope.feature": "chat", "spendscope.tenant": "globex"}, 50, 50),
    # Hour 3: named by the deployment attribute; takes all of $6 (idle $4.50).
    (907, 200, {"spendscope.deployment": DEPLOYMENT, "spendscope.feature": "draft"}, 10, 10),
)  # fmt: skip
# Hour 1, a hosted API call: token prices, no GPU share.
API_CALL = (
    908,
    75,
    {"server.address": "api.openai.com", "spendscope.feature": "search"},
    1000,
    100,
)
# Per call (trace): (cost, idle) in nano-dollars.
ALLOCATED = {
    901: (800_000_000, 400_000_000),
    902: (2_400_000_000, 1_200_000_000),
    903: (4_800_000_000, 2_400_000_000),
    904: (2_666_666_667, 0),
    905: (2_666_666_667, 0),
    906: (2_666_666_666, 0),
    907: (6_000_000_000, 4_500_000_000),
}


def call_export() -> ExportTraceServiceRequest:
    spans = []
    for trace, minute, attributes, input_tokens, output_tokens in (*CALLS, API_CALL):
        start = ns(DAY + dt.timedelta(minutes=minute))
        model = "gpt-4o-mini" if trace == API_CALL[0] else SERVED_MODEL
        if trace == 907:
            model = "llama-finetune"
        spans.append(
            Span(
                trace_id=trace_id(trace),
                span_id=span_id(1),
                name=f"chat {model}",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=start,
                end_time_unix_nano=start + 2_000_000_000,
                attributes=key_values(
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": model,
                        "gen_ai.usage.input_tokens": input_tokens,
                        "gen_ai.usage.output_tokens": output_tokens,
                        **attributes,
                    }
                ),
            )
        )
    return request(spans, {"service.name": "app"})
