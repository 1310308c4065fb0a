"""OTLP/HTTP: `POST /v1/traces` with protobuf or JSON bodies, optionally gzip or deflate.

Responses follow the OTLP specification (the shared rules are in `collector.otlp_http`):
the request's content type, partial success for spans rejected one by one, 400 for
undecodable bodies (google.rpc.Status), 413 above the size limit, 415 for other content
types, 503 with Retry-After when the queue is full.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from collector.auth import TokenSet
from collector.decode import JSON, PROTOBUF, DecodedSpans
from collector.ingest import IngestService
from collector.otlp_http import otlp_router


def _success(content_type: str, decoded: DecodedSpans) -> Response:
    rejected, message = decoded.rejected, decoded.rejection_message
    if content_type == JSON:
        payload: dict[str, object] = {}
        if rejected:
            payload["partialSuccess"] = {"rejectedSpans": str(rejected), "errorMessage": message}
        return Response(orjson.dumps(payload), media_type=JSON)
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return Response(response.SerializeToString(), media_type=PROTOBUF)


def otlp_http_router(
    service: IngestService, tokens: TokenSet, max_body_bytes: int, retry_after: int
) -> APIRouter:
    return otlp_router(
        "/v1/traces",
        what="spans",
        export=service.export_traces,
        success=_success,
        requests=service.metrics.requests,
        tokens=tokens,
        max_body_bytes=max_body_bytes,
        retry_after=retry_after,
    )
