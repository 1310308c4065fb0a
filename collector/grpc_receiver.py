"""OTLP/gRPC: `TraceService/Export` on the same decode and enqueue path as HTTP.

The method is registered with no deserializer, so the handler gets the raw bytes (gzip is
undone by gRPC) and hands them to the shared protobuf decoder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NoReturn

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from collector.auth import TokenSet
from collector.decode import PROTOBUF, DecodeError
from collector.group_commit import QueueFull, WriterStopped
from collector.ingest import IngestService

log = logging.getLogger(__name__)

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
TRANSPORT = "grpc"


def bind_address(host: str, port: int) -> str:
    """`host:port` as gRPC parses it: IPv6 literals go in brackets (`[::1]:4317`)."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def _authorization(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return value if isinstance(value, str) else value.decode()
    return None


class GrpcReceiver:
    def __init__(
        self,
        service: IngestService,
        tokens: TokenSet,
        host: str,
        port: int,
        max_message_bytes: int,
        extra_handlers: Sequence[grpc.GenericRpcHandler] = (),
    ) -> None:
        """`extra_handlers` serve other OTLP services (logs) on the same server."""
        self._service = service
        self._extra_handlers = tuple(extra_handlers)
        self._tokens = tokens
        self._address = bind_address(host, port)
        self._max_message_bytes = max_message_bytes
        self._server: grpc.aio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        """Bind and serve; called inside the running event loop (grpc.aio binds to it)."""
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", self._max_message_bytes),
                ("grpc.so_reuseport", 0),
            ]
        )
        handler = grpc.method_handlers_generic_handler(
            TRACE_SERVICE,
            {"Export": grpc.unary_unary_rpc_method_handler(self._export)},
        )
        server.add_generic_rpc_handlers((handler, *self._extra_handlers))
        self.port = server.add_insecure_port(self._address)
        await server.start()
        self._server = server
        log.info("OTLP/gRPC listening on %s", self._address)

    async def stop(self, grace: float) -> None:
        if self._server is not None:
            await self._server.stop(grace)

    async def _export(self, body: bytes, context: grpc.aio.ServicerContext) -> bytes:
        metrics = self._service.metrics

        async def fail(outcome: str, code: grpc.StatusCode, message: str) -> NoReturn:
            metrics.requests.labels(TRANSPORT, outcome).inc()
            await context.abort(code, message)
            raise AssertionError("abort raises")  # pragma: no cover

        if not self._tokens.allows(_authorization(context)):
            await fail("unauthenticated", grpc.StatusCode.UNAUTHENTICATED, "missing or bad token")
        try:
            decoded = await self._service.export_traces(body, PROTOBUF)
        except DecodeError as exc:
            await fail("bad_request", grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except (QueueFull, WriterStopped) as exc:
            await fail("unavailable", grpc.StatusCode.UNAVAILABLE, str(exc))
        if decoded.rejected and not decoded.accepted:
            await fail(
                "bad_request",
                grpc.StatusCode.INVALID_ARGUMENT,
                f"all {decoded.rejected} spans rejected: {decoded.rejection_message}",
            )
        metrics.requests.labels(TRANSPORT, "partial" if decoded.rejected else "ok").inc()
        response = ExportTraceServiceResponse()
        if decoded.rejected:
            response.partial_success.rejected_spans = decoded.rejected
            response.partial_success.error_message = decoded.rejection_message
        return response.SerializeToString()
