"""Decode OTLP log exports (protobuf or JSON) into outcome rows.

spendscope is not a log store: a log record is kept only when it reports an outcome
(docs/value-units.md), that is when its `event_name` (or its `event.name` attribute) is
`spendscope.outcome` or it carries `spendscope.outcome.name`. Other records are
acknowledged and counted, never stored. An outcome record that breaks the rules is
rejected and reported through OTLP partial success; a body that cannot be decoded at all
raises `DecodeError` (400 / INVALID_ARGUMENT), as for traces.

The AnyValue and OTLP/JSON helpers are shared with the other signals (`collector.ingest.anyvalue`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector.ingest.anyvalue import (
    json_attributes,
    json_field,
    json_id,
    json_int,
    json_list,
    json_object,
    json_request,
    json_text,
    proto_attributes,
)
from collector.ingest.bodies import JSON, PROTOBUF, DecodeError
from collector.ingest.columns import MAX_UNIX_NANO
from collector.ingest.limits import DEFAULT_ITEM_CHARS, attributes_json
from collector.ingest.normalize import FEATURE, SESSION, TENANT, Normalizer, SpanRejected, _text
from collector.ingest.rejections import Rejections
from warehouse.outcomes.records import (
    EVENT_NAME_ATTRIBUTE,
    MAX_KEY_CHARS,
    MAX_NAME_CHARS,
    NAME_ATTRIBUTE,
    OUTCOME_EVENT,
    OutcomeInvalid,
    OutcomeRows,
    content_id,
    explicit_id,
    parse_attributes,
)

SOURCE = "log"


@dataclass(frozen=True, slots=True)
class DecodedLogs:
    rows: pa.Table
    outcomes: int  # outcome records accepted (before de-duplication against the warehouse)
    ignored: int  # records that are not outcomes
    rejected: int  # outcome records that cannot be stored
    rejection_message: str

    @property
    def accepted(self) -> int:
        return self.outcomes + self.ignored


class _Records(Rejections):
    """Turns log records into outcome rows, counting what it keeps, ignores and rejects."""

    def __init__(self, normalizer: Normalizer, received_ns: int, item_chars: int) -> None:
        super().__init__()
        self.normalizer = normalizer
        self.item_chars = item_chars
        self.received_ns = received_ns
        self.rows = OutcomeRows()
        self.outcomes = 0
        self.ignored = 0

    def add(
        self,
        attributes: Mapping[str, Any],
        resource: Mapping[int, Any],
        *,
        event_name: str,
        trace_id: bytes,
        span_id: bytes,
        time_ns: int,
        observed_ns: int,
    ) -> None:
        """Store one outcome record (already known to be one), or count it rejected."""
        try:
            fields = parse_attributes(attributes)
            if trace_id and len(trace_id) != 16:
                raise OutcomeInvalid("trace_id must be 16 bytes")
            if span_id and len(span_id) != 8:
                raise OutcomeInvalid("span_id must be 8 bytes")
            occurred_ns = time_ns or observed_ns or self.received_ns
            if not 0 < occurred_ns <= MAX_UNIX_NANO:
                raise OutcomeInvalid(f"time {occurred_ns} is not a Unix time in ns before 2200")
            trace_id = trace_id if any(trace_id) else b""
            span_id = span_id if any(span_id) else b""
            found = self.normalizer.find(attributes)

            def dimension(concept: int) -> str | None:
                hit = found.get(concept)
                return _text(hit[2] if hit is not None else resource.get(concept))

            if fields.client_id is not None:
                outcome_id = explicit_id(fields.client_id)
            else:
                outcome_id = content_id(
                    SOURCE,
                    [trace_id.hex(), span_id.hex(), time_ns, observed_ns, event_name, attributes],
                )
            if fields.feature is None and (feature := dimension(FEATURE)) is not None:
                fields = dataclasses.replace(fields, feature=feature)
            session_id, tenant_id = dimension(SESSION), dimension(TENANT)
            # The limits of the outcomes API: longer values would merge distinct ones if cut.
            for what, value, limit in (
                ("feature", fields.feature, MAX_NAME_CHARS),
                ("session_id", session_id, MAX_KEY_CHARS),
                ("tenant_id", tenant_id, MAX_KEY_CHARS),
            ):
                if value is not None and len(value) > limit:
                    raise OutcomeInvalid(f"{what} is {len(value)} characters long (limit {limit})")
            self.rows.add(
                outcome_id,
                SOURCE,
                fields,
                occurred_ns,
                trace_id=trace_id,
                span_id=span_id,
                session_id=session_id,
                tenant_id=tenant_id,
                attributes=attributes_json(attributes, self.item_chars),
            )
            self.outcomes += 1
        except (OutcomeInvalid, SpanRejected) as exc:
            self.reject(f"log record: {exc}")
        except Exception as exc:  # one record's bug never fails its request
            self.unexpected("log record", exc)

    def result(self) -> DecodedLogs:
        return DecodedLogs(
            rows=self.rows.to_arrow(),
            outcomes=self.outcomes,
            ignored=self.ignored,
            rejected=self.rejected,
            rejection_message=self.rejection_message,
        )


def decode_logs(
    body: bytes, content_type: str, normalizer: Normalizer, item_chars: int = DEFAULT_ITEM_CHARS
) -> DecodedLogs:
    """The outcomes of one export; `item_chars` bounds a record's stored attributes."""
    records = _Records(normalizer, time.time_ns(), item_chars)
    if content_type == PROTOBUF:
        _add_protobuf(body, records)
    elif content_type == JSON:
        _add_json(body, records)
    else:
        raise DecodeError(f"unsupported content type {content_type!r}")
    return records.result()


# --- protobuf -------------------------------------------------------------------------


def _proto_is_outcome(record: Any) -> bool:
    if record.event_name == OUTCOME_EVENT:
        return True
    for kv in record.attributes:
        if kv.key == NAME_ATTRIBUTE or (
            kv.key == EVENT_NAME_ATTRIBUTE and kv.value.string_value == OUTCOME_EVENT
        ):
            return True
    return False


def _add_protobuf(body: bytes, records: _Records) -> None:
    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(body)
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError(f"invalid protobuf ExportLogsServiceRequest: {exc}") from None
    for resource_logs in request.resource_logs:
        resource: Mapping[int, Any] | None = None
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                if not _proto_is_outcome(record):
                    records.ignored += 1
                    continue
                try:
                    if resource is None:
                        resource = records.normalizer.resource_context(
                            proto_attributes(resource_logs.resource.attributes)
                        )
                    attributes = proto_attributes(record.attributes)
                except SpanRejected as exc:
                    records.reject(f"log record: {exc}")
                    continue
                except Exception as exc:  # one record's bug never fails its request
                    records.unexpected("log record", exc)
                    continue
                records.add(
                    attributes,
                    resource,
                    event_name=record.event_name,
                    trace_id=record.trace_id,
                    span_id=record.span_id,
                    time_ns=record.time_unix_nano,
                    observed_ns=record.observed_time_unix_nano,
                )


# --- JSON -----------------------------------------------------------------------------


def _add_json(body: bytes, records: _Records) -> None:
    resource_logs_list = json_request(body, "resourceLogs", "resource_logs")
    for resource_logs in resource_logs_list:
        try:
            resource_logs = json_object(resource_logs, "resourceLogs item")
            resource_obj = json_object(
                json_field(resource_logs, "resource", "resource", {}), "resource"
            )
            resource = records.normalizer.resource_context(
                json_attributes(json_list(resource_obj, "attributes", "attributes"))
            )
            scope_logs_list = json_list(resource_logs, "scopeLogs", "scope_logs")
        except SpanRejected as exc:
            raise DecodeError(f"invalid resourceLogs: {exc}") from None
        for scope_logs in scope_logs_list:
            try:
                scope_logs = json_object(scope_logs, "scopeLogs item")
                log_records = json_list(scope_logs, "logRecords", "log_records")
            except SpanRejected as exc:
                raise DecodeError(f"invalid scopeLogs: {exc}") from None
            for record in log_records:
                _add_json_record(record, resource, records)


def _json_mentions_outcome(items: list[Any]) -> bool:
    for item in items:
        if not isinstance(item, dict):
            continue
        key = item.get("key")
        if key == NAME_ATTRIBUTE:
            return True
        value = item.get("value")
        if (
            key == EVENT_NAME_ATTRIBUTE
            and isinstance(value, dict)
            and json_field(value, "stringValue", "string_value") == OUTCOME_EVENT
        ):
            return True
    return False


def _add_json_record(record: Any, resource: Mapping[int, Any], records: _Records) -> None:
    try:
        record = json_object(record, "logRecord")
        raw_attributes = json_list(record, "attributes", "attributes")
        event_name = json_field(record, "eventName", "event_name", "")
        if event_name != OUTCOME_EVENT and not _json_mentions_outcome(raw_attributes):
            records.ignored += 1
            return
        event_name = json_text(event_name, "eventName")
        attributes = json_attributes(raw_attributes)
        trace_id = json_id(json_field(record, "traceId", "trace_id"), 16, "traceId")
        span_id = json_id(json_field(record, "spanId", "span_id"), 8, "spanId")
        time_ns = json_int(json_field(record, "timeUnixNano", "time_unix_nano", 0), "timeUnixNano")
        observed_ns = json_int(
            json_field(record, "observedTimeUnixNano", "observed_time_unix_nano", 0),
            "observedTimeUnixNano",
        )
    except SpanRejected as exc:
        records.reject(f"log record: {exc}")
        return
    except Exception as exc:  # one record's bug never fails its request
        records.unexpected("log record", exc)
        return
    records.add(
        attributes,
        resource,
        event_name=event_name,
        trace_id=trace_id,
        span_id=span_id,
        time_ns=time_ns,
        observed_ns=observed_ns,
    )
