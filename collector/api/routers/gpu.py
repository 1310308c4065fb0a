"""The GPU API: `/api/v1/gpu/efficiency`, `/api/v1/gpu/allocation`, `/api/v1/gpu/prices`.

JSON, money as exact decimal strings in USD (docs/api.md, docs/gpu.md). Time windows are
half-open, [start, end), in UTC, over whole hours; the default is the 30 days up to now.

Tenant scope: efficiency and the GPU price book describe the shared fleet, so they need an
unscoped token (403 for a tenant-scoped one). Allocation answers a tenant-scoped token
with its own calls' share only, without the fleet's per-deployment totals.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field

from collector.api.deps import Cursor, fleet_scope, full_access, read_scope
from collector.api.errors import COMMON, errors
from collector.api.routers.prices import decimal_text
from collector.api.window import End, Start, requested_window
from collector.auth import Scope
from warehouse.core.clock import utc
from warehouse.gpu import prices as gpu_prices
from warehouse.queries import gpu as gpu_queries

Money = Annotated[str, Field(description="USD, exact decimal string.")]


class EfficiencyFigures(BaseModel):
    gpus: int = Field(description="Most GPUs seen in one hour.")
    gpu_hours: str = Field(description="GPU time the metrics cover (decimal string).")
    busy_gpu_hours: str = Field(description="GPU time x utilization.")
    idle_gpu_hours: str
    utilization: float | None = Field(description="busy / GPU hours (0-1).")
    unpriced_gpu_hours: str = Field(description="GPU time no GPU price covers: not in cost.")
    cost_usd: Money = Field(description="GPU cost of the priced GPU time, idle included.")
    idle_cost_usd: Money = Field(description="The idle share of cost_usd.")
    prompt_tokens: int
    generation_tokens: int
    tokens_per_gpu_second: float | None
    cost_per_million_tokens_usd: Money | None = Field(
        description="cost_usd per million prompt + generation tokens."
    )
    reference_cost_usd: Money | None = Field(
        description="The same tokens at the reference model's API prices (with `reference`)."
    )
    savings_vs_reference_usd: Money | None = Field(
        description="reference_cost_usd - cost_usd: positive when self-hosting is cheaper."
    )
    requests_running: float | None = Field(description="vLLM running requests, average.")
    requests_waiting: float | None = Field(description="vLLM waiting requests, average.")
    kv_cache_usage: float | None = Field(description="vLLM KV-cache usage (0-1), average.")


class EfficiencyRow(EfficiencyFigures):
    period: dt.datetime | None = Field(description="Start of the hour or day (with `grain`).")
    deployment: str | None = Field(description="null: GPUs no deployment attribute named.")


class ReferenceModel(BaseModel):
    provider: str
    model: str
    input_mtok: Money
    output_mtok: Money


class EfficiencyResponse(BaseModel):
    currency: Literal["USD"] = "USD"
    start: dt.datetime
    end: dt.datetime
    grain: Literal["hour", "day"] | None
    reference: ReferenceModel | None
    rows: list[EfficiencyRow]
    totals: EfficiencyFigures


class DeploymentAllocation(BaseModel):
    deployment: str | None
    cost_usd: Money
    idle_cost_usd: Money
    allocated_usd: Money = Field(description="What reached the deployment's calls.")
    allocated_idle_usd: Money
    unallocated_usd: Money = Field(description="GPU cost of hours without matched calls.")
    unpriced_gpu_hours: str
    calls: int


class AllocationRow(BaseModel):
    dimensions: dict[str, str | None]
    calls: int
    cost_usd: Money = Field(description="Allocated GPU cost, idle share included.")
    idle_cost_usd: Money = Field(description="The idle share of cost_usd.")
    busy_cost_usd: Money
    input_tokens: int
    output_tokens: int


class AllocationResponse(BaseModel):
    currency: Literal["USD"] = "USD"
    start: dt.datetime
    end: dt.datetime
    group_by: list[str]
    deployments: list[DeploymentAllocation] | None = Field(
        description="Per deployment totals; null for a tenant-scoped token."
    )
    rows: list[AllocationRow]


class GpuPriceRecord(BaseModel):
    id: int
    scope: Literal["gpu_model", "node_pool", "deployment"]
    match: str
    pricing: Literal["on_demand", "reserved", "owned"]
    usd_per_gpu_hour: Money
    purchase_usd: Money | None
    amortization_months: int | None
    effective_from: dt.datetime
    source: Literal["file", "api"]
    note: str | None


def _window(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    start, end = requested_window(start, end, dt.datetime.now(dt.UTC))
    # Whole hours: the tables are hourly.
    start = start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    if end.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0) != end:
        end = end.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        end += dt.timedelta(hours=1)
    return start, end.astimezone(dt.UTC)


def _money(value: Decimal | None) -> str | None:
    return decimal_text(value)


def _figures(row: dict[str, Any], reference: gpu_queries.Reference | None) -> dict[str, Any]:
    cost = gpu_queries.usd(row["cost_nanos"]) or Decimal(0)
    idle = gpu_queries.usd(row["idle_cost_nanos"]) or Decimal(0)
    gpu_ms, busy_ms = int(row["gpu_ms"] or 0), int(row["busy_ms"] or 0)
    prompt, generation = int(row["prompt_tokens"] or 0), int(row["generation_tokens"] or 0)
    tokens = prompt + generation
    reference_cost = (
        gpu_queries.reference_cost(reference, prompt, generation) if reference else None
    )
    return {
        "gpus": int(row["gpus"] or 0),
        "gpu_hours": str(gpu_queries.gpu_hours(gpu_ms)),
        "busy_gpu_hours": str(gpu_queries.gpu_hours(busy_ms)),
        "idle_gpu_hours": str(gpu_queries.gpu_hours(gpu_ms - busy_ms)),
        "utilization": busy_ms / gpu_ms if gpu_ms else None,
        "unpriced_gpu_hours": str(gpu_queries.gpu_hours(int(row["unpriced_gpu_ms"] or 0))),
        "cost_usd": _money(cost),
        "idle_cost_usd": _money(idle),
        "prompt_tokens": prompt,
        "generation_tokens": generation,
        "tokens_per_gpu_second": tokens * 1000 / gpu_ms if gpu_ms else None,
        "cost_per_million_tokens_usd": _money(gpu_queries.per_million(cost, tokens)),
        "reference_cost_usd": _money(reference_cost),
        "savings_vs_reference_usd": _money(
            reference_cost - cost if reference_cost is not None else None
        ),
        "requests_running": row["requests_running"],
        "requests_waiting": row["requests_waiting"],
        "kv_cache_usage": row["kv_cache_usage"],
    }


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    summed: dict[str, Any] = {
        key: sum(int(row[key] or 0) for row in rows)
        for key in (
            "gpu_ms", "busy_ms", "unpriced_gpu_ms", "cost_nanos", "idle_cost_nanos",
            "prompt_tokens", "generation_tokens",
        )
    }  # fmt: skip
    most: dict[str | None, int] = {}
    for row in rows:
        most[row["deployment"]] = max(most.get(row["deployment"], 0), int(row["gpus"] or 0))
    summed["gpus"] = sum(most.values())
    for key in ("requests_running", "requests_waiting", "kv_cache_usage"):
        values = [row[key] for row in rows if row[key] is not None]
        summed[key] = sum(values) / len(values) if values else None
    return summed


router = APIRouter(
    prefix="/api/v1/gpu",
    tags=["gpu"],
    dependencies=[Depends(read_scope)],
    responses=COMMON,
)
change = [Depends(full_access)]
fleet = [Depends(fleet_scope)]


@router.get(
    "/efficiency",
    response_model=EfficiencyResponse,
    dependencies=fleet,
    responses=errors(400, 403),
    summary="GPU utilization, idle cost and cost per token of self-hosted deployments",
)
def efficiency(
    cursor: Cursor,
    start: Start = None,
    end: End = None,
    grain: Annotated[Literal["hour", "day"] | None, Query()] = None,
    deployment: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
    reference: Annotated[
        str | None,
        Query(
            pattern=r"^[^/]+/.+$",
            description="`provider/model` whose API prices the same tokens would cost "
            "(the break-even view), e.g. `openai/gpt-4o-mini`.",
        ),
    ] = None,
) -> EfficiencyResponse:
    """Per deployment (and hour or day with `grain`): GPU-hours, utilization (engine
    activity where the GPU reports it), idle GPU-hours and dollars, tokens per
    GPU-second, cost per million tokens, and the same tokens at a reference API model."""
    window_start, window_end = _window(start, end)
    ref = None
    if reference is not None:
        provider, model = reference.split("/", 1)
        ref = gpu_queries.reference_prices(cursor, provider, model, window_end)
    rows = gpu_queries.efficiency_rows(cursor, window_start, window_end, grain, deployment)
    return EfficiencyResponse(
        start=window_start,
        end=window_end,
        grain=grain,
        reference=ReferenceModel(
            provider=ref.provider,
            model=ref.model,
            input_mtok=decimal_text(ref.input_mtok) or "0",
            output_mtok=decimal_text(ref.output_mtok) or "0",
        )
        if ref
        else None,
        rows=[
            EfficiencyRow(
                period=utc(row["period"]), deployment=row["deployment"], **_figures(row, ref)
            )
            for row in rows
        ],
        totals=EfficiencyFigures(**_figures(_totals(rows) if rows else _EMPTY, ref)),
    )


@router.get(
    "/allocation",
    response_model=AllocationResponse,
    summary="Self-hosted GPU cost allocated to the calls each deployment served",
    responses=errors(400),
)
def allocation(
    scope: Scope,
    cursor: Cursor,
    start: Start = None,
    end: End = None,
    group_by: Annotated[
        list[str] | None,
        Query(
            description="Dimensions besides deployment: feature, tenant, environment, "
            "user, model, matched_by (repeat or comma-separate)."
        ),
    ] = None,
) -> AllocationResponse:
    """Each deployment's GPU cost (idle share shown separately) spread over the model
    calls it served, grouped by deployment and the `group_by` dimensions."""
    window_start, window_end = _window(start, end)
    dimensions = tuple(
        part.strip() for item in group_by or [] for part in item.split(",") if part.strip()
    )
    rows = gpu_queries.allocation_rows(cursor, scope, window_start, window_end, dimensions)
    names = gpu_queries.allocation_dimensions(dimensions)
    totals = (
        gpu_queries.deployment_totals(cursor, window_start, window_end) if scope.unscoped else None
    )
    return AllocationResponse(
        start=window_start,
        end=window_end,
        group_by=names,
        deployments=[_deployment(row) for row in totals] if totals is not None else None,
        rows=[_allocation_row(row, names) for row in rows],
    )


@router.get(
    "/prices", response_model=list[GpuPriceRecord], dependencies=fleet, responses=errors(403)
)
def list_prices(cursor: Cursor) -> list[GpuPriceRecord]:
    """The GPU price book: every GPU-hour price, from the price file and the API."""
    return [_price_record(row) for row in gpu_prices.list_gpu_prices(cursor)]


@router.post(
    "/prices",
    response_model=GpuPriceRecord,
    status_code=201,
    dependencies=change,
    responses=errors(400, 403),
)
def add_price(entry: Annotated[dict[str, Any], Body()], cursor: Cursor) -> GpuPriceRecord:
    """Add a GPU-hour price (fields as in the price file's `gpu_prices`); the efficiency
    job re-costs the history it covers on its next run."""
    price = gpu_prices.parse_gpu_price(entry, "gpu price")
    price_id = gpu_prices.add_gpu_price(cursor, price, "api", dt.datetime.now(dt.UTC))
    rows = gpu_prices.list_gpu_prices(cursor)
    return _price_record(next(row for row in rows if row["id"] == price_id))


_EMPTY: dict[str, Any] = {
    "gpus": 0, "gpu_ms": 0, "busy_ms": 0, "unpriced_gpu_ms": 0, "cost_nanos": 0,
    "idle_cost_nanos": 0, "prompt_tokens": 0, "generation_tokens": 0,
    "requests_running": None, "requests_waiting": None, "kv_cache_usage": None,
}  # fmt: skip


def _usd(nanos: int) -> str:
    return _money(gpu_queries.usd(nanos)) or "0"


def _allocation_row(row: dict[str, Any], names: list[str]) -> AllocationRow:
    return AllocationRow(
        dimensions={name: row[name] for name in names},
        calls=row["calls"],
        cost_usd=_usd(row["cost_nanos"]),
        idle_cost_usd=_usd(row["idle_cost_nanos"]),
        busy_cost_usd=_usd(row["cost_nanos"] - row["idle_cost_nanos"]),
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
    )


def _deployment(row: dict[str, Any]) -> DeploymentAllocation:
    return DeploymentAllocation(
        deployment=row["deployment"],
        cost_usd=_usd(row["cost_nanos"]),
        idle_cost_usd=_usd(row["idle_cost_nanos"]),
        allocated_usd=_usd(row["allocated_nanos"]),
        allocated_idle_usd=_usd(row["allocated_idle_nanos"]),
        unallocated_usd=_usd(row["cost_nanos"] - row["allocated_nanos"]),
        unpriced_gpu_hours=str(gpu_queries.gpu_hours(row["unpriced_gpu_ms"])),
        calls=row["calls"],
    )


def _price_record(row: dict[str, Any]) -> GpuPriceRecord:
    return GpuPriceRecord(
        id=row["id"],
        scope=row["scope"],
        match=row["match"],
        pricing=row["pricing"],
        usd_per_gpu_hour=decimal_text(row["usd_per_gpu_hour"]) or "0",
        purchase_usd=decimal_text(row["purchase_usd"]),
        amortization_months=row["amortization_months"],
        effective_from=utc(row["effective_from"]),
        source=row["source"],
        note=row["note"],
    )
