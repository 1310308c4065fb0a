"""The query API under /api/v1 (JSON). Reads through cursors of the serving process."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from collector.api.deps import Cursor, read_scope
from collector.api.errors import COMMON, errors
from collector.auth import Scope
from warehouse.core.clock import utc
from warehouse.jobs.incremental import job_states
from warehouse.queries import calls as queries
from warehouse.spans.insert import last_batch_id

HEX_TRACE_ID = r"^[0-9a-fA-F]{32}$"


class ModelCallRecord(BaseModel):
    """One model call, normalized, with its attribution dimensions."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service: str | None
    scope_name: str | None
    provider: str | None
    operation: str | None
    request_model: str | None
    response_model: str | None
    input_tokens: int | None = Field(
        description="All input tokens, cache reads and writes included."
    )
    output_tokens: int | None = Field(description="All output tokens, reasoning included.")
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    reported_cost_usd: str | None = Field(description="Cost the instrumentation reported (USD).")
    feature: str | None
    session_id: str | None
    user_id: str | None
    tenant_id: str | None
    environment: str | None
    agent_name: str | None
    attributed: bool = Field(description="Whether ancestor dimensions have been resolved yet.")
    start_time: dt.datetime
    end_time: dt.datetime
    duration_ms: float
    status_code: int
    status_message: str | None
    attributes: dict[str, Any] = Field(description="Span attributes not mapped to a field.")
    cost_usd: str | None = Field(
        None, description="Our cost (USD, exact decimal string); null until priced or unpriced."
    )
    priced: bool | None = Field(None, description="False: no price matched (unpriced).")
    unpriced_reason: str | None = Field(None, description="no_price or no_usage.")
    price_source: str | None = Field(None, description="catalog or override.")
    price_override_id: int | None = Field(None, description="The override that priced it.")
    price_period_id: int | None = Field(
        None, description="The price period that priced it (GET /api/v1/prices)."
    )
    pricing_assumption: str | None = Field(
        None,
        description="What its price assumes, comma-separated codes (docs/pricing.md); "
        "null: nothing assumed.",
    )


class SpansResponse(BaseModel):
    spans: list[ModelCallRecord]


class QuarantinedRange(BaseModel):
    """Input the job set aside after failing on it repeatedly; it no longer holds the job
    up. `spendscope jobs retry NAME LOW` runs it again."""

    low: int = Field(description="The range is (low, high] of the job's input positions.")
    high: int
    failures: int = Field(description="Failures in a row that led to the quarantine.")
    error: str | None = Field(description="The last error; null for a tenant-scoped token.")
    quarantined_at: dt.datetime


class JobStateRecord(BaseModel):
    name: str
    watermark: int = Field(
        description="Last position of its input the job has processed (an ingest batch, or "
        "for rollups a pricing sequence number)."
    )
    input_high: int = Field(description="Where the job's input stands now; caught up when equal.")
    last_run_at: dt.datetime | None
    last_rows: int | None = Field(description="Null for a tenant-scoped token (all tenants' rows).")
    total_rows: int | None = Field(description="Null for a tenant-scoped token.")
    runs: int
    last_error: str | None = Field(description="Null for a tenant-scoped token.")
    failures: int = Field(
        0, description="Failures in a row on the input range the job is attempting now."
    )
    quarantined: list[QuarantinedRange] = Field(
        default_factory=list, description="Input ranges the job quarantined, oldest first."
    )


class JobsResponse(BaseModel):
    latest_batch_id: int = Field(description="Last ingest batch committed; jobs catch up to it.")
    jobs: list[JobStateRecord]


def _job_record(state: dict[str, Any]) -> JobStateRecord:
    quarantined = [q | {"quarantined_at": utc(q["quarantined_at"])} for q in state["quarantined"]]
    return JobStateRecord.model_validate(
        state | {"last_run_at": utc(state["last_run_at"])} | {"quarantined": quarantined}
    )


def model_call_record(row: dict[str, Any]) -> ModelCallRecord:
    cost = row["reported_cost_usd"]
    row = {
        **row,
        "reported_cost_usd": None if cost is None else format(Decimal(cost).normalize(), "f"),
        "cost_usd": None
        if row.get("cost_usd") is None
        else format(Decimal(row["cost_usd"]).normalize(), "f"),
        "start_time": utc(row["start_time"]),
        "end_time": utc(row["end_time"]),
        "attributes": json.loads(row["attributes"]) if row["attributes"] else {},
        "parent_span_id": row["parent_span_id"] or None,
    }
    return ModelCallRecord(**row)


# Every /api/v1 router shares these: the read scope and the common error answers.
router = APIRouter(prefix="/api/v1", dependencies=[Depends(read_scope)], responses=COMMON)


@router.get(
    "/spans",
    response_model=SpansResponse,
    summary="Model calls of a trace or session",
    responses=errors(400),
)
def spans(
    scope: Scope,
    cursor: Cursor,
    trace_id: Annotated[
        str | None, Query(pattern=HEX_TRACE_ID, description="32 hex characters")
    ] = None,
    session_id: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> SpansResponse:
    """The normalized model calls of one trace and/or one session, oldest first."""
    rows = queries.model_calls(
        cursor,
        trace_id=bytes.fromhex(trace_id) if trace_id else None,
        session_id=session_id,
        limit=limit,
        scope=scope,
    )
    return SpansResponse(spans=[model_call_record(row) for row in rows])


@router.get("/jobs", response_model=JobsResponse, summary="What each job has processed")
def jobs(scope: Scope, cursor: Cursor) -> JobsResponse:
    """Each job's progress. A tenant-scoped token sees how far each job has got, not
    the row counts or errors, which cover every tenant."""
    states = job_states(cursor)
    latest = last_batch_id(cursor)
    if not scope.unscoped:
        hidden = {"last_rows": None, "total_rows": None, "last_error": None}
        states = [
            state | hidden | {"quarantined": [q | {"error": None} for q in state["quarantined"]]}
            for state in states
        ]
    return JobsResponse(latest_batch_id=latest, jobs=[_job_record(s) for s in states])
