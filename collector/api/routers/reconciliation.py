"""The reconciliation API: `GET /api/v1/reconciliation` (billed against span-derived per day
x provider x model, with the gap, its share and its likely cause), `GET` and `POST
/api/v1/reconciliation/bills` (the imports, and importing a bill file's bytes). Bills are
the organisation's, so a tenant-scoped token gets 403. Money as exact decimal strings.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import duckdb
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from collector.api.deps import ApiContext, Context, Cursor, full_access, read_scope
from collector.api.errors import COMMON, ErrorDetail, errors
from collector.api.routers.prices import decimal_text
from collector.auth import Scope
from warehouse.core.clock import utc
from warehouse.reconciliation.compute import Row
from warehouse.reconciliation.config import load_reconciliation_config
from warehouse.reconciliation.detector import model_gaps
from warehouse.reconciliation.formats import MAX_BYTES, Format, parse_bill, sha256
from warehouse.reconciliation.load import reconciliation
from warehouse.reconciliation.records import TOKEN_CLASSES, ParsedBill, WindowError
from warehouse.reconciliation.store import import_bill, list_imports

Money = Annotated[str, Field(description="USD, exact decimal string.")]
DEFAULT_DAYS = 30


class Tokens(BaseModel):
    input: int = Field(description="Uncached input tokens (cache reads and writes excluded).")
    cache_read: int
    cache_write: int
    output: int = Field(description="Output tokens, reasoning included.")


class BillPart(BaseModel):
    project: str = Field(description="OpenAI project, Anthropic workspace, FOCUS sub-account.")
    api_key: str
    tier: str = Field(description="'' standard; batch, priority, long_context, ... as billed.")
    tokens: int = Field(description="Tokens the bill reports (0: a cost report only).")
    cost_usd: Money | None = Field(description="Null: the bill reports no dollars for it.")


class ReconciliationRow(BaseModel):
    day: dt.date
    provider: str
    model: str = Field(description="The catalog model both sides matched (else the name).")
    bill_models: list[str]
    span_models: list[str]
    billed_usd: Money | None = Field(description="Null: the bill has no dollars that day.")
    span_usd: Money = Field(description="spendscope's cost of the calls it holds.")
    gap_usd: Money = Field(
        description="billed - ours (without billed dollars: the tokens' gap at our prices)."
    )
    gap_share: float | None = Field(description="gap / billed.")
    cause: str = Field(description="The largest part of the gap, or `matched`.")
    explanation: str
    parts_usd: dict[str, Money] = Field(description="The gap split by cause; adds up to it.")
    billed_tokens: Tokens
    span_tokens: Tokens
    billed_requests: int | None
    span_calls: int
    unpriced_calls: int
    rate_ratio: float | None = Field(
        description="Billed token dollars / the same tokens at our prices."
    )
    tiers: list[str]
    bill_breakdown: list[BillPart]


class ModelTotal(BaseModel):
    provider: str
    model: str
    days: int
    billed_usd: Money | None
    span_usd: Money
    gap_usd: Money
    gap_share: float | None
    cause: str
    firing: bool = Field(description="Over the reconciliation_gap thresholds.")


class ReconciliationResponse(BaseModel):
    currency: str = "USD"
    start: dt.date
    end: dt.date = Field(description="Exclusive.")
    rows: list[ReconciliationRow]
    models: list[ModelTotal]


class BillImport(BaseModel):
    id: int
    status: str = Field(description="imported, or unchanged (the same content again).")
    source: str
    format: str
    name: str | None = None
    lines: int
    changed_lines: int = Field(description="Lines added or whose figures changed.")
    skipped_rows: int = Field(description="FOCUS rows that are not per-model usage.")
    first_day: dt.date | None
    last_day: dt.date | None
    imported_at: dt.datetime | None = None


class ImportsResponse(BaseModel):
    imports: list[BillImport]


def _tokens(tokens: dict[str, int]) -> Tokens:
    return Tokens(**{c: tokens[c] for c in TOKEN_CLASSES})


def _text(value: Decimal) -> str:
    return decimal_text(value) or "0"


def row_record(row: Row) -> ReconciliationRow:
    return ReconciliationRow(
        day=row.day, provider=row.provider, model=row.model,
        bill_models=sorted(row.bill.models), span_models=sorted(row.spans.models),
        billed_usd=decimal_text(row.billed_usd), span_usd=_text(row.span_usd),
        gap_usd=_text(row.gap_usd),
        gap_share=None if row.gap_share is None else float(row.gap_share),
        cause=row.cause, explanation=row.explanation,
        parts_usd={k: _text(v) for k, v in row.parts.items() if v},
        billed_tokens=_tokens(row.bill.tokens), span_tokens=_tokens(row.spans.tokens),
        billed_requests=row.bill.requests, span_calls=row.spans.calls,
        unpriced_calls=row.spans.unpriced_calls,
        rate_ratio=None if row.rate_ratio is None else float(row.rate_ratio),
        tiers=list(row.tiers),
        bill_breakdown=[
            BillPart(
                project=project, api_key=key, tier=tier, tokens=part["tokens"],
                cost_usd=decimal_text(part["cost_usd"]),
            )
            for (project, key, tier), part in sorted(row.bill.breakdown.items())
        ],
    )  # fmt: skip


def _unscoped(scope: Scope) -> None:
    if not scope.unscoped:
        raise HTTPException(403, "bills cover the whole organisation: use an unscoped token")


def reconciliation_report(
    cursor: duckdb.DuckDBPyConnection,
    start: dt.date | None,
    end: dt.date | None,
    provider: str | None,
) -> ReconciliationResponse:
    end = end or dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    start = start or end - dt.timedelta(days=DEFAULT_DAYS)
    if end <= start or (end - start).days > 366:
        raise WindowError("need start < end, at most 366 days apart")
    config = load_reconciliation_config(cursor)
    rows = reconciliation(cursor, start, end, config, provider)
    totals = [
        ModelTotal(
            provider=g.provider,
            model=g.model,
            days=len(g.days),
            billed_usd=decimal_text(g.billed_usd),
            span_usd=_text(g.span_usd),
            gap_usd=_text(g.gap_usd),
            gap_share=None if g.share is None else float(g.share),
            cause=g.cause if g.gap_usd else "matched",
            firing=g.firing(config),
        )
        for g in model_gaps(rows)
    ]
    return ReconciliationResponse(
        start=start, end=end, rows=[row_record(r) for r in rows], models=totals
    )


def imports_report(cursor: duckdb.DuckDBPyConnection) -> ImportsResponse:
    return ImportsResponse(
        imports=[
            BillImport(**{**r, "status": "imported", "imported_at": utc(r["imported_at"])})
            for r in list_imports(cursor)
        ]
    )


router = APIRouter(
    prefix="/api/v1/reconciliation",
    dependencies=[Depends(read_scope)],
    tags=["reconciliation"],
    responses=COMMON,
)


@router.get(
    "",
    response_model=ReconciliationResponse,
    summary="Billed against span-derived cost",
    responses=errors(400, 403),
)
def reconcile(
    scope: Scope,
    cursor: Cursor,
    start: Annotated[dt.date | None, Query(description="First UTC day.")] = None,
    end: Annotated[dt.date | None, Query(description="Day after the last (exclusive).")] = None,
    provider: Annotated[str | None, Query(max_length=200)] = None,
) -> ReconciliationResponse:
    """Per day x provider x model of the days the imported bills cover: the bill's
    tokens and dollars against spendscope's, the gap, its share of the bill, and the
    gap split into causes (docs/reconciliation.md). Default: the last 30 days."""
    _unscoped(scope)
    return reconciliation_report(cursor, start, end, provider)


@router.get(
    "/bills", response_model=ImportsResponse, summary="Imported bills", responses=errors(403)
)
def imports(scope: Scope, cursor: Cursor) -> ImportsResponse:
    """The latest 100 imports, newest first."""
    _unscoped(scope)
    return imports_report(cursor)


@router.post(
    "/bills",
    response_model=BillImport,
    summary="Import a bill file",
    dependencies=[Depends(full_access)],
    responses={
        **errors(403, 413),
        422: {"model": ErrorDetail, "description": "A bad bill: every bad row is named."},
    },
)
async def import_file(
    request: Request,
    context: Context,
    name: Annotated[str, Query(min_length=1, max_length=300)] = "bill",
    bill_format: Annotated[
        Format | None, Query(alias="format", description="Default: recognised.")
    ] = None,
    provider: Annotated[
        str | None, Query(max_length=200, description="FOCUS: every row's provider.")
    ] = None,
    cost_column: Annotated[str, Query(max_length=100)] = "BilledCost",
) -> BillImport:
    """The request body is the bill file as is: OpenAI or Anthropic usage/cost pages
    (JSON), or a FOCUS CSV. All of it is imported or nothing (422 naming the bad rows);
    the same content imported again changes nothing (`status: unchanged`)."""
    content = await request.body()
    if len(content) > MAX_BYTES:
        raise HTTPException(413, f"a bill file is at most {MAX_BYTES} bytes")
    bill = await run_in_threadpool(
        parse_bill, content, name, bill_format, provider=provider, cost_column=cost_column
    )
    return await run_in_threadpool(_import, context, bill, content, name)


def _import(context: ApiContext, bill: ParsedBill, content: bytes, name: str) -> BillImport:
    """Stored on a cursor of its own: the handler is async (it reads the body), so it has
    no per-request cursor. A bad bill raised `BillFileError` (422, every bad row named)."""
    cursor = context.database.cursor()
    try:
        result = import_bill(cursor, bill, name, sha256(content), dt.datetime.now(dt.UTC))
    finally:
        cursor.close()
    record: dict[str, Any] = vars(result) | {"id": result.import_id, "name": name}
    record["imported_at"] = utc(result.imported_at)
    return BillImport(**{k: v for k, v in record.items() if k != "import_id"})
