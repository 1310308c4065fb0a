"""The OTLP/gRPC rules, once, for every signal (`TraceService`, `LogsService`, `MetricsService`).

`otlp_grpc_handler` serves one `<Service>/Export` method: the method has no deserializer
(the handler gets the raw bytes, gzip already undone by gRPC), UNAUTHENTICATED without an
accepted token, INVALID_ARGUMENT for an undecodable body or when every item was rejected,
UNAVAILABLE when the queue is full (the exporters retry), and the signal's response (partial
success included) otherwise.
"""

from __future__ import annotations

from typing import NoReturn

import grpc

from collector.auth import TokenSet
from collector.ingest.bodies import PROTOBUF, DecodeError
from collector.ingest.group_commit import QueueFull, WriterStopped
from collector.ingest.otlp_http import OtlpSignal


def _authorization(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return value if isinstance(value, str) else value.decode()
    return None


def otlp_grpc_handler(signal: OtlpSignal, tokens: TokenSet) -> grpc.GenericRpcHandler:
    """The signal's `<service>/Export`."""
    what, export, requests = signal.what, signal.export, signal.requests

    async def handle(body: bytes, context: grpc.aio.ServicerContext) -> bytes:
        async def fail(name: str, code: grpc.StatusCode, message: str) -> NoReturn:
            requests.labels("grpc", name).inc()
            await context.abort(code, message)
            raise AssertionError("abort raises")  # pragma: no cover

        if not tokens.allows(_authorization(context)):
            await fail("unauthenticated", grpc.StatusCode.UNAUTHENTICATED, "missing or bad token")
        try:
            result = await export(body, PROTOBUF)
        except DecodeError as exc:
            await fail("bad_request", grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except (QueueFull, WriterStopped) as exc:
            await fail("unavailable", grpc.StatusCode.UNAVAILABLE, str(exc))
        if result.rejected and not result.accepted:
            message = f"all {result.rejected} {what} rejected: {result.rejection_message}"
            await fail("bad_request", grpc.StatusCode.INVALID_ARGUMENT, message)
        requests.labels("grpc", "partial" if result.rejected else "ok").inc()
        return signal.response.protobuf(result)

    return grpc.method_handlers_generic_handler(
        signal.service, {"Export": grpc.unary_unary_rpc_method_handler(handle)}
    )
