"""OTLP/HTTP: `POST /v1/traces` with protobuf or JSON bodies, optionally gzip.

Responses follow the OTLP specification: the request's content type, partial success for
spans rejected one by one, 400 for undecodable bodies (google.rpc.Status), 413 above the
size limit, 415 for other content types, 503 with Retry-After when the queue is full.
"""

from __future__ import annotations

import logging

import anyio.to_thread
import orjson
from fastapi import APIRouter, Request, Response
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from starlette.requests import ClientDisconnect

from collector.auth import TokenSet
from collector.decode import JSON, PROTOBUF, BodyTooLarge, DecodeError, gunzip
from collector.ingest import IngestService
from collector.writer import QueueFull, WriterStopped

log = logging.getLogger(__name__)
TRANSPORT = "http"


class _BodyTooLarge(Exception):
    pass


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _status(
    content_type: str,
    http_status: int,
    code: int,
    message: str,
    headers: dict[str, str] | None = None,
) -> Response:
    if content_type == JSON:
        body = orjson.dumps({"code": code, "message": message})
    else:
        content_type = PROTOBUF
        body = status_pb2.Status(code=code, message=message).SerializeToString()
    return Response(body, status_code=http_status, media_type=content_type, headers=headers)


def _success(content_type: str, rejected: int, message: str) -> Response:
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


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def otlp_http_router(
    service: IngestService, tokens: TokenSet, max_body_bytes: int, retry_after: int
) -> APIRouter:
    router = APIRouter()
    metrics = service.metrics

    @router.post("/v1/traces", include_in_schema=False)
    async def export_traces(request: Request) -> Response:
        content_type = _media_type(request)

        def outcome(name: str) -> None:
            metrics.requests.labels(TRANSPORT, name).inc()

        if not tokens.allows(request.headers.get("authorization")):
            outcome("unauthenticated")
            return _status(content_type, 401, code_pb2.UNAUTHENTICATED, "missing or bad token")
        if content_type not in (PROTOBUF, JSON):
            outcome("unsupported_media_type")
            return _status(
                PROTOBUF,
                415,
                code_pb2.INVALID_ARGUMENT,
                f"content type must be {PROTOBUF} or {JSON}, not {content_type or 'absent'!r}",
            )
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("gzip", "identity", ""):
            outcome("unsupported_encoding")
            return _status(
                content_type,
                415,
                code_pb2.INVALID_ARGUMENT,
                f"content encoding {encoding!r} is not supported (use gzip)",
            )
        try:
            body = await _read_body(request, max_body_bytes)
            if encoding == "gzip":
                # Inflating up to the limit takes long enough to stall every other request.
                body = await anyio.to_thread.run_sync(gunzip, body, max_body_bytes)
        except ClientDisconnect:
            # The client hung up before sending the whole body: nothing to store or answer.
            outcome("client_disconnected")
            log.info("OTLP/HTTP client disconnected before the end of the body")
            return Response(status_code=400)
        except (_BodyTooLarge, BodyTooLarge):
            outcome("too_large")
            return _status(
                content_type, 413, code_pb2.INVALID_ARGUMENT, f"body exceeds {max_body_bytes} bytes"
            )
        except DecodeError as exc:
            outcome("bad_request")
            return _status(content_type, 400, code_pb2.INVALID_ARGUMENT, str(exc))
        try:
            decoded = await service.export_traces(body, content_type)
        except DecodeError as exc:
            outcome("bad_request")
            return _status(content_type, 400, code_pb2.INVALID_ARGUMENT, str(exc))
        except (QueueFull, WriterStopped) as exc:
            outcome("unavailable")
            return _status(
                content_type,
                503,
                code_pb2.UNAVAILABLE,
                str(exc),
                headers={"Retry-After": str(retry_after)},
            )
        if decoded.rejected and not decoded.accepted:
            outcome("bad_request")
            return _status(
                content_type,
                400,
                code_pb2.INVALID_ARGUMENT,
                f"all {decoded.rejected} spans rejected: {decoded.rejection_message}",
            )
        outcome("partial" if decoded.rejected else "ok")
        return _success(content_type, decoded.rejected, decoded.rejection_message)

    return router
