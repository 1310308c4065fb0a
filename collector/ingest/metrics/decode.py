"""Decode OTLP metric exports (protobuf or JSON) into metric-point columns.

One entry point, `decode_metrics`, shared by `POST /v1/metrics` and gRPC
`MetricsService/Export`. A body that cannot be decoded at all raises `DecodeError` (400 /
INVALID_ARGUMENT). Per data point:

- a point of a recognized metric (`collector.ingest.metrics.signals`) becomes one row, keyed by its
  stream (a hash of metric name, scope, point and resource attributes) and its time, so a
  re-sent export stores nothing twice;
- a point of any other metric, an exponential histogram or summary, or a point flagged
  "no recorded value" (the Prometheus receiver's staleness marker) is ignored: counted,
  acknowledged, not stored;
- a point that cannot be stored (no timestamp, a time at or after 2200, a value that is not
  finite or beyond +-2^53, a histogram count beyond int64) is rejected and reported through
  OTLP partial success (`rejected_data_points`).

Gauges and sums keep their value; histograms keep their sum and count. Cumulative sums stay
cumulative here: the efficiency job turns them into increments, handling resets and gaps.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from collector.ingest.bodies import JSON, PROTOBUF, DecodeError
from collector.ingest.columns import MAX_UNIX_NANO
from collector.ingest.limits import DEFAULT_ITEM_CHARS, MAX_KEY_CHARS, attributes_json, cut_key
from collector.ingest.metrics import signals
from collector.ingest.rejections import Rejections

# DataPointFlags.FLAG_NO_RECORDED_VALUE
NO_RECORDED_VALUE = 1
CUMULATIVE = 2
MAX_COUNT = 2**63 - 1  # the int64 `count` column
# No GPU gauge or token counter gets near it, a double holds integers exactly up to it, and
# the efficiency job's sums of increases stay far inside its int64 columns.
MAX_VALUE = 2.0**53

SCHEMA = pa.schema(
    [
        ("stream_id", pa.int64()),
        ("time_unix_nano", pa.int64()),
        ("start_unix_nano", pa.int64()),
        ("metric", pa.string()),
        ("signal", pa.string()),
        ("kind", pa.string()),
        ("cumulative", pa.bool_()),
        ("value", pa.float64()),
        ("count", pa.int64()),
        ("deployment", pa.string()),
        ("gpu_id", pa.string()),
        ("gpu_model", pa.string()),
        ("node_pool", pa.string()),
        ("served_model", pa.string()),
        ("server_address", pa.string()),
        ("token_type", pa.string()),
        ("attributes", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class MetricRules:
    """Which attributes name a deployment (`SPENDSCOPE_GPU_DEPLOYMENT_ATTRIBUTES`), and how
    many characters of its attributes a point stores (`SPENDSCOPE_MAX_ITEM_ATTRIBUTE_CHARS`)."""

    deployment_keys: tuple[str, ...] = signals.DEFAULT_DEPLOYMENT_KEYS
    item_chars: int = DEFAULT_ITEM_CHARS


@dataclass(frozen=True, slots=True)
class DecodedMetrics:
    table: pa.Table
    accepted: int
    rejected: int
    ignored: int
    rejection_message: str


class _Points(Rejections):
    def __init__(self, rules: MetricRules) -> None:
        super().__init__()
        self.rules = rules
        self.columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
        self.ignored = 0


def decode_metrics(body: bytes, content_type: str, rules: MetricRules) -> DecodedMetrics:
    request = ExportMetricsServiceRequest()
    if content_type == PROTOBUF:
        try:
            request.ParseFromString(body)
        except ProtobufDecodeError as exc:
            raise DecodeError(f"invalid protobuf metrics export: {exc}") from None
    elif content_type == JSON:
        try:
            json_format.Parse(body, request, ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError, RecursionError) as exc:
            raise DecodeError(f"invalid JSON metrics export: {exc}") from None
    else:
        raise DecodeError(f"unsupported content type {content_type!r}")
    points = _Points(rules)
    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            scope = scope_metrics.scope.name
            for metric in scope_metrics.metrics:
                _add_metric(metric, scope, resource, points)
    table = pa.Table.from_pydict(points.columns, schema=SCHEMA)
    return DecodedMetrics(
        table, table.num_rows, points.rejected, points.ignored, points.rejection_message
    )


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def _attributes(items: Iterable[Any]) -> dict[str, Any]:
    return {cut_key(item.key): _value(item.value) for item in items}


def _first(keys: Iterable[str], *sources: dict[str, Any]) -> str | None:
    for source in sources:
        for key in keys:
            value = source.get(key)
            if value not in (None, ""):
                return str(value)
    return None


def _add_metric(metric: Any, scope: str, resource: dict[str, Any], points: _Points) -> None:
    kind = metric.WhichOneof("data")
    if kind is None:
        return
    data = getattr(metric, kind)
    signal = signals.recognize(metric.name)
    if signal is None or kind not in ("gauge", "sum", "histogram"):
        points.ignored += len(data.data_points)
        return
    cumulative = kind != "gauge" and data.aggregation_temporality == CUMULATIVE
    for point in data.data_points:
        try:
            _add_point(points, metric.name, signal, kind, cumulative, point, scope, resource)
        except Exception as exc:  # one point's bug never fails its request
            points.unexpected(metric.name, exc)


def _add_point(
    points: _Points,
    name: str,
    signal: signals.Signal,
    kind: str,
    cumulative: bool,
    point: Any,
    scope: str,
    resource: dict[str, Any],
) -> None:
    """One data point of a recognized metric: stored, ignored or rejected."""
    if point.flags & NO_RECORDED_VALUE:
        points.ignored += 1
        return
    attributes = _attributes(point.attributes)
    task = str(attributes.get("hw.gpu.task", ""))
    if signal.family == "hw.gpu" and task not in signals.GENERAL_TASKS:
        points.ignored += 1  # encoder / decoder utilization is not compute
        return
    if kind == "histogram":
        value, number = float(point.sum), int(point.count)
    else:
        value = float(point.as_int if point.WhichOneof("value") == "as_int" else point.as_double)
        number = None
    if not point.time_unix_nano:
        points.reject(f"{name}: data point without time_unix_nano")
        return
    if point.time_unix_nano > MAX_UNIX_NANO or point.start_time_unix_nano > MAX_UNIX_NANO:
        points.reject(f"{name}: data point time is not a Unix time in ns before 2200")
        return
    if number is not None and number > MAX_COUNT:
        points.reject(f"{name}: histogram count {number} is out of range")
        return
    if not math.isfinite(value):
        points.reject(f"{name}: value {value} is not finite")
        return
    if abs(value) > MAX_VALUE:
        points.reject(f"{name}: value {value} is beyond +-2^53")
        return
    _append(points, name, signal, kind, cumulative, value * signal.scale, number, point,
            attributes, scope, resource)  # fmt: skip


def _append(
    points: _Points,
    name: str,
    signal: signals.Signal,
    kind: str,
    cumulative: bool,
    value: float,
    count: int | None,
    point: Any,
    attributes: dict[str, Any],
    scope: str,
    resource: dict[str, Any],
) -> None:
    identity = orjson.dumps(
        [name, scope, attributes, resource], option=orjson.OPT_SORT_KEYS, default=str
    )
    stream_id = int.from_bytes(
        hashlib.blake2b(identity, digest_size=8).digest(), "big", signed=True
    )
    gpu_id = _first(signals.GPU_ID_KEYS, attributes, resource)
    if gpu_id is None and signal.family in ("dcgm", "hw.gpu"):
        index = _first(signals.GPU_INDEX_KEYS, attributes, resource)
        host = _first(signals.HOST_KEYS, attributes, resource)
        gpu_id = f"{host or ''}/{index}" if index is not None else None
    dimensions = {
        "deployment": _first(points.rules.deployment_keys, attributes, resource),
        "gpu_id": gpu_id,
        "gpu_model": _first(signals.GPU_MODEL_KEYS, attributes, resource),
        "node_pool": _first(signals.NODE_POOL_KEYS, attributes, resource),
        "served_model": _first(signals.SERVED_MODEL_KEYS, attributes, resource),
        "server_address": _first(signals.SERVER_ADDRESS_KEYS, attributes, resource),
        "token_type": _first(signals.TOKEN_TYPE_KEYS, attributes, resource),
    }
    for what, text in dimensions.items():
        if text is not None and len(text) > MAX_KEY_CHARS:
            # Cutting would merge distinct deployments or GPUs: the point is rejected.
            points.reject(f"{name}: {what} is {len(text)} characters long (limit {MAX_KEY_CHARS})")
            return
    row = (
        stream_id,
        point.time_unix_nano,
        point.start_time_unix_nano or None,
        name,
        signal.name,
        kind,
        cumulative,
        value,
        count,
        *dimensions.values(),
        attributes_json(attributes, points.rules.item_chars) or "{}",
    )
    # Appended once the whole row is known: a failure above leaves the columns aligned.
    for column, cell in zip(points.columns.values(), row, strict=True):
        column.append(cell)
