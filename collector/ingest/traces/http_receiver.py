"""OTLP/HTTP: `POST /v1/traces` with protobuf or JSON bodies, optionally gzip or deflate.

Responses follow the OTLP specification (the shared rules are in `collector.ingest.otlp_http`):
the request's content type, partial success for spans rejected one by one, 400 for
undecodable bodies (google.rpc.Status), 413 above the size limit, 415 for other content
types, 503 with Retry-After when the queue is full.
"""

from __future__ import annotations

from fastapi import APIRouter

from collector.auth import TokenSet
from collector.ingest.otlp_http import otlp_router
from collector.ingest.partial_success import TRACES_RESPONSE
from collector.ingest.pipeline import IngestService


def otlp_http_router(
    service: IngestService, tokens: TokenSet, max_body_bytes: int, retry_after: int
) -> APIRouter:
    return otlp_router(
        "/v1/traces",
        what="spans",
        export=service.export_traces,
        success=TRACES_RESPONSE.http,
        requests=service.metrics.requests,
        tokens=tokens,
        max_body_bytes=max_body_bytes,
        retry_after=retry_after,
    )
