"""OTLP's partial success: how a signal's export response tells the client how many items
were rejected one by one and why, in protobuf (HTTP and gRPC) and in OTLP/JSON."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from fastapi import Response
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.ingest.bodies import JSON, PROTOBUF
from collector.ingest.otlp_http import ExportResult


@dataclass(frozen=True)
class PartialSuccess:
    """A signal's export response type and the field of its `partial_success` that counts the
    rejected items (`rejected_spans`, `rejected_log_records`, `rejected_data_points`)."""

    response: type[Message]
    rejected_field: str

    def protobuf(self, result: ExportResult) -> bytes:
        """The serialized export response: empty, or the partial success when any item was
        rejected."""
        response = self.response()
        if result.rejected:
            partial = response.partial_success  # type: ignore[attr-defined]
            setattr(partial, self.rejected_field, result.rejected)
            partial.error_message = result.rejection_message
        return response.SerializeToString()

    def http(self, content_type: str, result: ExportResult) -> Response:
        """The 200 response of OTLP/HTTP, in the request's content type."""
        if content_type != JSON:
            return Response(self.protobuf(result), media_type=PROTOBUF)
        payload: dict[str, object] = {}
        if result.rejected:
            payload["partialSuccess"] = {
                self._json_name: str(result.rejected),
                "errorMessage": result.rejection_message,
            }
        return Response(orjson.dumps(payload), media_type=JSON)

    @property
    def _json_name(self) -> str:
        """The rejected field's OTLP/JSON name (lowerCamelCase: `rejectedSpans`)."""
        partial = self.response.DESCRIPTOR.fields_by_name["partial_success"].message_type
        assert partial is not None  # a message field
        return str(partial.fields_by_name[self.rejected_field].json_name)


TRACES_RESPONSE = PartialSuccess(ExportTraceServiceResponse, "rejected_spans")
LOGS_RESPONSE = PartialSuccess(ExportLogsServiceResponse, "rejected_log_records")
METRICS_RESPONSE = PartialSuccess(ExportMetricsServiceResponse, "rejected_data_points")
