"""One OTLP signal (traces, logs, metrics) as both transports serve it.

A receiver names its signal once (`OtlpSignal`: the gRPC service, the HTTP path, what its
items are called, its partial-success response, its export function and request counter);
`signal_router` and `signal_grpc_handler` serve it with the rules of `otlp_http` and
`otlp_grpc`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from fastapi import APIRouter

from collector.auth import TokenSet
from collector.ingest.otlp_grpc import otlp_grpc_handler
from collector.ingest.otlp_http import ExportResult, otlp_router
from collector.ingest.partial_success import PartialSuccess


@dataclass(frozen=True)
class OtlpSignal:
    service: str  # the gRPC service, `opentelemetry.proto.collector.<signal>.v1.<Service>`
    path: str  # the OTLP/HTTP path, `/v1/<signal>`
    what: str  # the items, in messages: "spans", "log records", "data points"
    response: PartialSuccess
    export: Callable[[bytes, str], Awaitable[ExportResult]]
    requests: Any  # the signal's request counter (transport, result)


def signal_router(
    signal: OtlpSignal, tokens: TokenSet, max_body_bytes: int, retry_after: int
) -> APIRouter:
    """`POST <path>`."""
    return otlp_router(
        signal.path,
        what=signal.what,
        export=signal.export,
        success=signal.response.http,
        requests=signal.requests,
        tokens=tokens,
        max_body_bytes=max_body_bytes,
        retry_after=retry_after,
    )


def signal_grpc_handler(signal: OtlpSignal, tokens: TokenSet) -> grpc.GenericRpcHandler:
    """`<service>/Export`."""
    return otlp_grpc_handler(
        signal.service,
        what=signal.what,
        export=signal.export,
        response=signal.response.protobuf,
        requests=signal.requests,
        tokens=tokens,
    )
