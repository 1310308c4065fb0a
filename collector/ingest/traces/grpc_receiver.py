"""OTLP/gRPC: `TraceService/Export` on the same decode and enqueue path as HTTP.

The method is registered with no deserializer, so the handler gets the raw bytes (gzip is
undone by gRPC) and hands them to the shared protobuf decoder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import grpc

from collector.auth import TokenSet
from collector.ingest.otlp_grpc import otlp_grpc_handler
from collector.ingest.pipeline import IngestService

log = logging.getLogger(__name__)


def bind_address(host: str, port: int) -> str:
    """`host:port` as gRPC parses it: IPv6 literals go in brackets (`[::1]:4317`)."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


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
        handler = otlp_grpc_handler(self._service.signal, self._tokens)
        server.add_generic_rpc_handlers((handler, *self._extra_handlers))
        self.port = server.add_insecure_port(self._address)
        await server.start()
        self._server = server
        log.info("OTLP/gRPC listening on %s", self._address)

    async def stop(self, grace: float) -> None:
        if self._server is not None:
            await self._server.stop(grace)
