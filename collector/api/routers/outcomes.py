"""`/api/v1/outcomes`: report outcomes after the fact, and read them back resolved.

`POST` takes one outcome or a list (JSON), keyed by session_id, trace_id or a business key,
and answers 200 only once they are committed. Re-sent outcomes are counted once: an outcome
is identified by its `id` when given, else by a hash of its content. `GET` lists outcomes
with their session, trace and feature resolved (`warehouse.queries.outcomes`).
`GET /api/v1/value-units` shows each feature's configured value unit and its totals.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Annotated, Any, Literal, NoReturn

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from collector.api.deps import Context, Cursor, Intake, read_scope, report_access
from collector.api.errors import COMMON, ErrorDetail, errors
from collector.api.timestamps import ApiTime
from collector.auth import Scope
from collector.ingest.group_commit import QueueFull, WriterStopped
from collector.ingest.otlp_http import BodyOverLimit, read_body
from warehouse.core.clock import utc
from warehouse.core.errors import Unavailable
from warehouse.outcomes.records import (
    MAX_COUNT,
    MAX_KEY_CHARS,
    MAX_NAME_CHARS,
    OutcomeFields,
    OutcomeRows,
    content_id,
    explicit_id,
    parse_name,
)
from warehouse.queries.outcomes import list_outcomes, value_unit_totals

SOURCE = "api"
MAX_OUTCOMES_PER_REQUEST = 10_000
# Clock skew tolerated on `occurred_at`; later than this is a client bug, not an outcome.
MAX_FUTURE = dt.timedelta(hours=1)
HEX_TRACE_ID = r"^[0-9a-fA-F]{32}$"
HEX_SPAN_ID = r"^[0-9a-fA-F]{16}$"

Text = Annotated[str, Field(min_length=1, max_length=MAX_KEY_CHARS)]
Scalar = str | int | float | bool


class OutcomeIn(BaseModel):
    """One outcome reported by an app. Give `session_id`, `trace_id` or `key` so that it can be
    attributed, and `id` or `occurred_at` so that a re-sent outcome is recognised."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    id: Text | None = Field(
        None,
        description="Idempotency key chosen by the app: outcomes with the same id are stored "
        "once, from any source. Without it, the outcome's content identifies it.",
    )
    name: str = Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description="What happened, e.g. ticket_resolved, search_succeeded, draft_saved.",
    )
    count: StrictInt = Field(1, ge=0, le=MAX_COUNT, description="How many units (default 1).")
    success: StrictBool | None = Field(
        None, description="False for an attempt that failed; it then counts no value units."
    )
    session_id: Text | None = Field(None, description="The user session it belongs to.")
    trace_id: str | None = Field(
        None, pattern=HEX_TRACE_ID, description="The trace it belongs to (32 hex characters)."
    )
    span_id: str | None = Field(
        None, pattern=HEX_SPAN_ID, description="The span it belongs to (needs trace_id)."
    )
    key: Text | None = Field(
        None,
        description="A business key of the app's choosing (ticket id, order id), linked to a "
        "session by a span attribute spendscope.outcome.key or another outcome with the key.",
    )
    feature: str | None = Field(
        None, min_length=1, max_length=MAX_NAME_CHARS, description="The product feature."
    )
    tenant_id: Text | None = Field(
        None,
        description="The tenant (customer) it belongs to: its session and key are looked up "
        "within that tenant, as two tenants may use the same session id.",
    )
    occurred_at: ApiTime | None = Field(
        None,
        description="When it happened (with a time zone), possibly hours after the model calls."
        " Default: when received.",
    )
    attributes: dict[str, Scalar] | None = Field(
        None, description="Anything else worth keeping with it (shown by GET)."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return parse_name(value, "name")

    @model_validator(mode="after")
    def _complete(self) -> OutcomeIn:
        if self.session_id is None and self.trace_id is None and self.key is None:
            raise ValueError("give session_id, trace_id or key, so the outcome can be attributed")
        if self.id is None and self.occurred_at is None:
            raise ValueError(
                "give id or occurred_at, so that a re-sent outcome is recognised and counted once"
            )
        if self.trace_id is not None and int(self.trace_id, 16) == 0:
            raise ValueError("trace_id must not be all zeros")
        if self.span_id is not None and (self.trace_id is None or int(self.span_id, 16) == 0):
            raise ValueError("span_id needs a trace_id and must not be all zeros")
        if self.occurred_at is not None and self.occurred_at > _now() + MAX_FUTURE:
            raise ValueError("occurred_at is more than an hour in the future")
        return self


class OutcomeAck(BaseModel):
    outcome_id: str
    duplicate: bool = Field(description="Already stored (a re-sent outcome): counted once.")


class OutcomesAccepted(BaseModel):
    stored: int = Field(description="Outcomes new to the warehouse.")
    duplicates: int = Field(description="Outcomes it already held (or repeated in the body).")
    outcomes: list[OutcomeAck]


class OutcomeRecord(BaseModel):
    """An outcome as stored, with its session, trace, feature and tenant resolved."""

    outcome_id: str
    seq: int | None = Field(description="Ingest sequence; null until numbered (within ~1 s).")
    source: Literal["span_event", "span_attribute", "log", "api"]
    name: str
    count: int
    success: bool | None
    occurred_at: dt.datetime
    received_at: dt.datetime
    trace_id: str | None = Field(description="Its trace, or the trace its business key links to.")
    span_id: str | None
    session_id: str | None
    session_from: Literal["declared", "trace", "key"] | None = Field(
        description="How the session was found: reported with the outcome, through its trace, "
        "or through its business key."
    )
    key: str | None
    feature: str | None
    tenant_id: str | None
    id: str | None = Field(description="The idempotency key the reporter gave, if any.")
    attributes: dict[str, Any]


class OutcomesResponse(BaseModel):
    outcomes: list[OutcomeRecord]


class ValueUnitRecord(BaseModel):
    feature: str
    outcome: str = Field(description="The outcome name that is this feature's value unit.")
    units: int = Field(description="Sum of the counts of its outcomes not marked failed.")
    failed: int = Field(description="Sum of the counts of its outcomes marked failed.")
    outcomes: int
    sessions: int


class ValueUnitsResponse(BaseModel):
    value_units: list[ValueUnitRecord]


_PAYLOAD = TypeAdapter(list[OutcomeIn])
_OUTCOME_SCHEMA = OutcomeIn.model_json_schema()
_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"anyOf": [_OUTCOME_SCHEMA, {"type": "array", "items": _OUTCOME_SCHEMA}]},
            "example": [
                {
                    "name": "ticket_resolved",
                    "key": "TICKET-4711",
                    "occurred_at": "2026-11-22T17:03:00Z",
                },
                {"id": "search-81f2", "name": "search_succeeded", "session_id": "sess-00001"},
            ],
        }
    },
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ns(value: dt.datetime) -> int:
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _validation_error(message: str, loc: tuple[str | int, ...] = ("body",)) -> NoReturn:
    raise RequestValidationError([{"type": "value_error", "loc": loc, "msg": message}])


def parse_outcomes(payload: Any) -> list[OutcomeIn]:
    """Validate a body that is one outcome or a list of them (422 with every problem)."""
    single = isinstance(payload, dict)
    if not single and not isinstance(payload, list):
        _validation_error("the body must be an outcome object or a list of outcome objects")
    items = [payload] if single else payload
    if not items:
        _validation_error("the list of outcomes is empty")
    if len(items) > MAX_OUTCOMES_PER_REQUEST:
        _validation_error(f"at most {MAX_OUTCOMES_PER_REQUEST} outcomes per request")
    try:
        return _PAYLOAD.validate_python(items)
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_url=False, include_context=False, include_input=False):
            loc = tuple(error["loc"][1:]) if single else tuple(error["loc"])
            errors.append({**error, "loc": ("body", *loc)})
        raise RequestValidationError(errors) from None


def outcome_rows(outcomes: list[OutcomeIn], received: dt.datetime) -> tuple[OutcomeRows, list[str]]:
    """The rows to store and, per outcome in order, its id."""
    rows = OutcomeRows()
    ids = []
    for outcome in outcomes:
        occurred = (outcome.occurred_at or received).astimezone(dt.UTC)
        trace_id = bytes.fromhex(outcome.trace_id) if outcome.trace_id else None
        span_id = bytes.fromhex(outcome.span_id) if outcome.span_id else None
        if outcome.id is not None:
            outcome_id = explicit_id(outcome.id)
        else:
            content = outcome.model_dump(mode="json", exclude={"id", "attributes", "tenant_id"})
            if outcome.tenant_id is not None:  # ids of outcomes without one stay as they were
                content["tenant_id"] = outcome.tenant_id
            content["occurred_at"] = occurred.isoformat()
            content["trace_id"] = trace_id.hex() if trace_id else None
            content["span_id"] = span_id.hex() if span_id else None
            outcome_id = content_id(SOURCE, content)
        fields = OutcomeFields(
            name=outcome.name,
            count=outcome.count,
            success=outcome.success,
            key=outcome.key,
            feature=outcome.feature,
            client_id=outcome.id,
        )
        rows.add(
            outcome_id,
            SOURCE,
            fields,
            _ns(occurred),
            trace_id=trace_id,
            span_id=span_id,
            session_id=outcome.session_id,
            tenant_id=outcome.tenant_id,
            attributes=orjson.dumps(outcome.attributes).decode() if outcome.attributes else None,
        )
        ids.append(outcome_id)
    return rows, ids


def _record(row: dict[str, Any]) -> OutcomeRecord:
    return OutcomeRecord(
        **{
            **row,
            "occurred_at": utc(row["occurred_at"]),
            "received_at": utc(row["received_at"]),
            "trace_id": row["trace_id"].hex() if row["trace_id"] else None,
            "span_id": row["span_id"].hex() if row["span_id"] else None,
            "key": row["business_key"],
            "id": row["client_id"],
            "attributes": json.loads(row["attributes"]) if row["attributes"] else {},
        }
    )


router = APIRouter(prefix="/api/v1", tags=["outcomes"], responses=COMMON)


@router.post(
    "/outcomes",
    response_model=OutcomesAccepted,
    summary="Report outcomes (value units)",
    dependencies=[Depends(report_access)],
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={
        **errors(413, 503),
        422: {"model": ErrorDetail, "description": "Invalid outcomes; nothing was stored."},
    },
)
async def post_outcomes(request: Request, intake: Intake) -> OutcomesAccepted:
    """Store one outcome or a list of them; answers once they are committed.

    All or nothing: when any outcome is invalid, none is stored (422, every problem
    listed). Re-sending is safe: an outcome already stored is reported as a duplicate.
    """
    try:
        body = await read_body(request, intake.max_body_bytes)
    except BodyOverLimit:
        raise HTTPException(413, f"body exceeds {intake.max_body_bytes} bytes") from None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        intake.metrics.rejected.labels(SOURCE).inc()
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": f"invalid JSON: {exc}"}]
        ) from None
    try:
        outcomes = parse_outcomes(payload)
    except RequestValidationError:
        intake.metrics.rejected.labels(SOURCE).inc()
        raise
    rows, ids = outcome_rows(outcomes, _now())
    try:
        future = intake.writer.submit(rows.to_arrow())
    except (QueueFull, WriterStopped) as exc:
        raise Unavailable(str(exc)) from None
    intake.metrics.received.labels(SOURCE).inc(len(rows))
    try:
        new = await asyncio.shield(asyncio.wrap_future(future))
    except WriterStopped as exc:
        raise Unavailable(str(exc)) from None
    acks = []
    for outcome_id in ids:
        acks.append(OutcomeAck(outcome_id=outcome_id, duplicate=outcome_id not in new))
        new.discard(outcome_id)  # a repeat within the body is a duplicate too
    stored = sum(not ack.duplicate for ack in acks)
    return OutcomesAccepted(stored=stored, duplicates=len(acks) - stored, outcomes=acks)


@router.get(
    "/outcomes",
    response_model=OutcomesResponse,
    summary="Outcomes, with session and feature resolved",
    dependencies=[Depends(read_scope)],
)
def get_outcomes(
    scope: Scope,
    cursor: Cursor,
    session_id: Annotated[str | None, Query(min_length=1, max_length=MAX_KEY_CHARS)] = None,
    trace_id: Annotated[
        str | None, Query(pattern=HEX_TRACE_ID, description="32 hex characters")
    ] = None,
    key: Annotated[str | None, Query(min_length=1, max_length=MAX_KEY_CHARS)] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=MAX_NAME_CHARS)] = None,
    feature: Annotated[str | None, Query(min_length=1, max_length=MAX_NAME_CHARS)] = None,
    since: Annotated[ApiTime | None, Query(description="occurred_at >= since")] = None,
    until: Annotated[ApiTime | None, Query(description="occurred_at < until")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> OutcomesResponse:
    """Outcomes matching every filter given, in the order they occurred. `session_id`,
    `trace_id` and `feature` match the resolved values (through the outcome's trace or
    business key), so an outcome reported by key alone is found under its session."""
    rows = list_outcomes(
        cursor,
        session_id=session_id,
        trace_id=bytes.fromhex(trace_id) if trace_id else None,
        key=key,
        name=name,
        feature=feature,
        since=since,
        until=until,
        limit=limit,
        scope=scope,
    )
    return OutcomesResponse(outcomes=[_record(row) for row in rows])


@router.get(
    "/value-units",
    response_model=ValueUnitsResponse,
    summary="Each feature's value unit and its totals",
    dependencies=[Depends(read_scope)],
)
def get_value_units(
    scope: Scope,
    cursor: Cursor,
    context: Context,
    since: Annotated[ApiTime | None, Query(description="occurred_at >= since")] = None,
    until: Annotated[ApiTime | None, Query(description="occurred_at < until")] = None,
) -> ValueUnitsResponse:
    """The value units configured with SPENDSCOPE_VALUE_UNITS, with the outcomes that
    count towards them in the window (all time by default)."""
    totals = value_unit_totals(cursor, context.value_units, since=since, until=until, scope=scope)
    return ValueUnitsResponse(
        value_units=[ValueUnitRecord(feature=feature, **total) for feature, total in totals.items()]
    )
