"""The OTLP/HTTP request rules, once, for every signal (`/v1/traces`, `/v1/logs`, `/v1/metrics`).

A handler built by `otlp_handler` checks the token, the content type and the content
encoding, reads the body under the size limit, decompresses it off the event loop, hands it
to the signal's export function and maps the outcome onto OTLP's status codes: 401, 415,
413, 400 (with a `google.rpc.Status` body), 503 with Retry-After, or 200 with the
signal's response (partial success included) in the request's content type.

Each receiver names its signal once (`OtlpSignal`); `otlp_router` serves it over HTTP and
`collector.ingest.otlp_grpc.otlp_grpc_handler` over gRPC.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import anyio.to_thread
import orjson
from fastapi import APIRouter, Request, Response
from google.rpc import code_pb2, status_pb2
from starlette.requests import ClientDisconnect

from collector.auth import TokenSet
from collector.ingest.bodies import JSON, PROTOBUF, BodyTooLarge, DecodeError, decompress
from collector.ingest.group_commit import QueueFull, WriterStopped

log = logging.getLogger(__name__)

ENCODINGS = ("gzip", "deflate", "identity", "")


class ExportResult(Protocol):
    @property
    def accepted(self) -> int: ...
    @property
    def rejected(self) -> int: ...
    @property
    def rejection_message(self) -> str: ...


Result = TypeVar("Result", bound=ExportResult)


class SignalResponse(Protocol):
    """A signal's export response (`collector.ingest.partial_success.PartialSuccess`)."""

    def http(self, content_type: str, result: ExportResult) -> Response: ...

    def protobuf(self, result: ExportResult) -> bytes: ...


@dataclass(frozen=True)
class OtlpSignal:
    """One OTLP signal (traces, logs, metrics) as both transports serve it."""

    service: str  # the gRPC service, `opentelemetry.proto.collector.<signal>.v1.<Service>`
    path: str  # the OTLP/HTTP path, `/v1/<signal>`
    what: str  # the items, in messages: "spans", "log records", "data points"
    response: SignalResponse
    export: Callable[[bytes, str], Awaitable[ExportResult]]
    requests: Any  # the signal's request counter (transport, result)


class BodyOverLimit(Exception):
    """The request body is larger than the configured limit."""


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def status_response(
    content_type: str,
    http_status: int,
    code: int,
    message: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """A failure in OTLP form: `google.rpc.Status`, as JSON for JSON requests."""
    if content_type == JSON:
        body = orjson.dumps({"code": code, "message": message})
    else:
        content_type = PROTOBUF
        body = status_pb2.Status(code=code, message=message).SerializeToString()
    return Response(body, status_code=http_status, media_type=content_type, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with BodyOverLimit as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyOverLimit
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyOverLimit
        chunks.append(chunk)
    return b"".join(chunks)


def otlp_handler(
    *,
    what: str,
    export: Callable[[bytes, str], Awaitable[Result]],
    success: Callable[[str, Result], Response],
    count: Callable[[str], None],
    tokens: TokenSet,
    max_body_bytes: int,
    retry_after: int,
) -> Callable[[Request], Awaitable[Response]]:
    """An OTLP/HTTP endpoint; `what` names the items in messages ("spans", "log records"),
    `count(outcome)` records each request's outcome in the signal's metrics."""

    async def handle(request: Request) -> Response:
        content_type = media_type(request)
        if not tokens.allows(request.headers.get("authorization")):
            count("unauthenticated")
            return status_response(
                content_type, 401, code_pb2.UNAUTHENTICATED, "missing or bad token"
            )
        if content_type not in (PROTOBUF, JSON):
            count("unsupported_media_type")
            return status_response(
                PROTOBUF,
                415,
                code_pb2.INVALID_ARGUMENT,
                f"content type must be {PROTOBUF} or {JSON}, not {content_type or 'absent'!r}",
            )
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ENCODINGS:
            count("unsupported_encoding")
            return status_response(
                content_type,
                415,
                code_pb2.INVALID_ARGUMENT,
                f"content encoding {encoding!r} is not supported (use gzip or deflate)",
            )
        try:
            body = await read_body(request, max_body_bytes)
            if encoding in ("gzip", "deflate"):
                # Inflating up to the limit takes long enough to stall every other request.
                body = await anyio.to_thread.run_sync(decompress, body, encoding, max_body_bytes)
            result = await export(body, content_type)
        except ClientDisconnect:
            # The client hung up before sending the whole body: nothing to store or answer.
            count("client_disconnected")
            log.info("OTLP/HTTP client disconnected before the end of the body")
            return Response(status_code=400)
        except (BodyOverLimit, BodyTooLarge):
            count("too_large")
            return status_response(
                content_type, 413, code_pb2.INVALID_ARGUMENT, f"body exceeds {max_body_bytes} bytes"
            )
        except DecodeError as exc:
            count("bad_request")
            return status_response(content_type, 400, code_pb2.INVALID_ARGUMENT, str(exc))
        except (QueueFull, WriterStopped) as exc:
            count("unavailable")
            return status_response(
                content_type,
                503,
                code_pb2.UNAVAILABLE,
                str(exc),
                headers={"Retry-After": str(retry_after)},
            )
        if result.rejected and not result.accepted:
            count("bad_request")
            return status_response(
                content_type,
                400,
                code_pb2.INVALID_ARGUMENT,
                f"all {result.rejected} {what} rejected: {result.rejection_message}",
            )
        count("partial" if result.rejected else "ok")
        return success(content_type, result)

    return handle


def otlp_router(
    signal: OtlpSignal, tokens: TokenSet, max_body_bytes: int, retry_after: int
) -> APIRouter:
    """A router serving the signal's `POST <path>` with `otlp_handler`."""

    def count(outcome: str) -> None:
        signal.requests.labels("http", outcome).inc()

    router = APIRouter()
    router.add_api_route(
        signal.path,
        otlp_handler(
            what=signal.what,
            export=signal.export,
            success=signal.response.http,
            count=count,
            tokens=tokens,
            max_body_bytes=max_body_bytes,
            retry_after=retry_after,
        ),
        methods=["POST"],
        include_in_schema=False,
    )
    return router
