"""The planning API: `GET /api/v1/forecast` (the month-end forecast with its 80 % prediction
interval) and `GET /api/v1/projections` (spend at 1x, 10x, 100x or any multiplier of today's
traffic, from each feature's measured drivers, with an optional change of model mix and the
self-hosted deployments' break-even).

JSON, money as exact decimal strings in USD rounded to the micro-dollar. Both read through the
caller's tenant scope; the self-hosted fleet's figures (which describe the shared GPUs) are
null for a tenant-scoped token. docs/forecast.md and docs/projections.md say how each is made.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from collector.api.deps import Cursor, read_scope
from collector.api.errors import COMMON, errors
from collector.api.routers.prices import decimal_text
from collector.api.timestamps import ApiTime
from collector.auth import Scope
from warehouse import forecast as forecasting
from warehouse import projections
from warehouse.core.clock import utc

Money = Annotated[str, Field(description="USD, exact decimal string.")]
Filter = Annotated[str | None, Query(min_length=1, max_length=512)]
REFERENCE = "openai/gpt-4o-mini"  # the GPU page's first reference model
At = Annotated[
    ApiTime | None,
    Query(
        description="The moment to make it at (ISO 8601 with offset), from the data held now; "
        "default: now."
    ),
]


def _usd(value: Decimal) -> str:
    return decimal_text(round(value, 6)) or "0"


def _ratio(value: Decimal | None) -> float | None:
    return None if value is None else round(float(value), 6)


class ForecastResponse(BaseModel):
    currency: Literal["USD"] = "USD"
    at: dt.datetime = Field(description="When it was made.")
    filters: dict[str, str] = Field(description="The spend forecast: the filters given.")
    month_start: dt.datetime
    month_to_date_usd: Money = Field(description="Spend so far this month (priced calls).")
    forecast_usd: Money | None = Field(
        description="Month-end total; null without a complete day of history."
    )
    low_usd: Money | None = Field(description="The 80 % prediction interval's lower bound.")
    high_usd: Money | None = Field(description="Its upper bound.")
    interval_level: float = Field(description="The interval's nominal coverage (0.8).")
    history_days: int = Field(description="Complete days the forecast is made from (<= 14).")
    day_error: float | None = Field(description="A day's relative error on that history.")


router = APIRouter(
    prefix="/api/v1", tags=["planning"], dependencies=[Depends(read_scope)], responses=COMMON
)


@router.get(
    "/forecast",
    response_model=ForecastResponse,
    summary="Month-end forecast with an 80% prediction interval",
)
def get_forecast(
    scope: Scope,
    cursor: Cursor,
    feature: Filter = None,
    tenant: Filter = None,
    environment: Filter = None,
    model: Filter = None,
    at: At = None,
) -> ForecastResponse:
    """The month so far plus, for each day left, the same weekday's average spend over the
    last 14 complete days at the last week's level; the interval is backtested (80 %
    nominal, docs/forecast.md). The overview's headline and every monthly budget show this
    figure for their spend. Filters match exact values."""
    now = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    filters = {
        name: value
        for name, value in (
            ("feature", feature),
            ("tenant", tenant),
            ("environment", environment),
            ("model", model),
        )
        if value is not None
    }
    so_far, found = forecasting.spend_forecast(cursor, now, filters, scope)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return ForecastResponse(
        at=now,
        filters=filters,
        month_start=month_start,
        month_to_date_usd=_usd(so_far),
        forecast_usd=_usd(found.total) if found else None,
        low_usd=_usd(found.low) if found else None,
        high_usd=_usd(found.high) if found else None,
        interval_level=float(forecasting.LEVEL),
        history_days=found.history_days if found else 0,
        day_error=_ratio(found.day_error) if found else None,
    )


class Level(BaseModel):
    multiplier: float
    usd_per_day: Money
    usd_per_month: Money = Field(description="30 days at that rate.")
    dominant_feature: str | None = Field(description="The feature spending the most.")


class MixShare(BaseModel):
    provider: str
    model: str
    calls_share: float = Field(description="Of the feature's calls, after the swaps.")


class FeatureLevel(BaseModel):
    multiplier: float
    usd_per_day: Money
    share: float | None = Field(description="Of the total at this multiplier.")


class FeatureRecord(BaseModel):
    feature: str = Field(description="`(none)`: calls no feature was attributed to.")
    unit: Literal["session", "request"] = Field(
        description="What the traffic counts: sessions, or requests (traces) without them."
    )
    units_per_day: float
    calls_per_unit: float | None
    tokens_per_call: dict[str, float | None] = Field(
        description="input (cache reads and writes included), output, cache_read, cache_write."
    )
    cache_share: float | None = Field(description="Input tokens read from the cache.")
    cost_per_call_usd: Money | None = Field(description="API cost per call, swaps applied.")
    api_usd_per_day: Money = Field(description="At today's traffic, swaps applied.")
    swap_delta_usd_per_day: Money = Field(description="What the swaps change of it.")
    gpu_usd_per_day: Money = Field(description="Self-hosted GPU cost allocated to its calls.")
    mix: list[MixShare]
    levels: list[FeatureLevel]


class DeploymentRecord(BaseModel):
    deployment: str | None
    reference: str = Field(description="The API model its tokens are priced at.")
    gpu_usd_per_day: Money
    reference_usd_per_day: Money = Field(description="The same tokens at the reference's prices.")
    utilization: float | None
    full_at_multiplier: float | None = Field(description="Traffic at which the GPUs are full.")
    break_even_multiplier: float | None = Field(
        description="Traffic from which self-hosting is cheaper than the API; null: never "
        "(even full GPUs cost more than the API)."
    )
    gpu_usd_per_day_at_multiplier: Money
    api_usd_per_day_at_multiplier: Money
    self_hosting_cheaper: bool = Field(description="At the requested multiplier.")


class ProjectionsResponse(BaseModel):
    currency: Literal["USD"] = "USD"
    start: dt.datetime = Field(description="The drivers' window (whole UTC days).")
    end: dt.datetime
    days: int
    multiplier: float
    swaps: list[str] = Field(description="The mix changes applied, in order.")
    filters: dict[str, str] = Field(description="The environment and tenant filters given.")
    levels: list[Level] = Field(description="1x, 10x, 100x and the requested multiplier.")
    features: list[FeatureRecord]
    self_hosted: list[DeploymentRecord] | None = Field(
        description="Per deployment; null for a tenant-scoped token (the fleet is shared)."
    )


@router.get(
    "/projections",
    response_model=ProjectionsResponse,
    summary="Spend at 1x, 10x, 100x the traffic, from measured drivers",
    responses=errors(400),
)
def get_projections(
    scope: Scope,
    cursor: Cursor,
    multiplier: Annotated[
        Decimal, Query(gt=0, le=1_000_000, description="Traffic as a multiple of today's.")
    ] = Decimal(10),
    swap: Annotated[
        list[str] | None,
        Query(
            min_length=1,
            description="`MODEL_A:MODEL_B:SHARE`, repeatable: move SHARE (0-1] of model A's "
            "calls to model B (a model of A's provider, or provider/model), priced with the "
            "price book at each feature's tokens per call.",
        ),
    ] = None,
    environment: Filter = None,
    tenant: Filter = None,
    reference: Annotated[
        str,
        Query(
            pattern=r"^[^/]+/.+$",
            description="`provider/model` the self-hosted tokens are priced at (break-even).",
        ),
    ] = REFERENCE,
    at: At = None,
) -> ProjectionsResponse:
    """Per feature, from the 7 complete UTC days before `at`'s: sessions (or requests) per
    day x calls per session x cost per call (tokens per call, today's model mix and cache
    share), so
    API spend scales with the traffic; self-hosted calls cost their share of GPUs that cost
    the same until full. 400: a reference model without a price; 422: a bad swap."""
    swaps = [projections.parse_swap(text) for text in swap or []]
    now = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    filters = {"environment": environment, "tenant": tenant}
    found = projections.project(cursor, now, multiplier, swaps, scope, filters, reference)
    return ProjectionsResponse(
        start=utc(found.start),
        end=utc(found.end),
        days=found.days,
        multiplier=float(multiplier),
        swaps=[s.text for s in found.swaps],
        filters={name: value for name, value in filters.items() if value is not None},
        levels=[_level(found, m) for m in found.levels],
        features=[_feature(found, f) for f in found.features],
        self_hosted=[_deployment(d, multiplier, found.days) for d in found.fleet]
        if scope.unscoped
        else None,
    )


def _level(found: projections.Projection, multiplier: Decimal) -> Level:
    per_day = sum(found.per_day(multiplier).values(), Decimal(0))
    return Level(
        multiplier=float(multiplier),
        usd_per_day=_usd(per_day),
        usd_per_month=_usd(per_day * projections.MONTH_DAYS),
        dominant_feature=found.dominant(multiplier),
    )


def _feature(
    found: projections.Projection, feature: projections.FeatureProjection
) -> FeatureRecord:
    days = Decimal(found.days)
    levels = []
    for multiplier in found.levels:
        spend = found.per_day(multiplier)
        total = sum(spend.values(), Decimal(0))
        mine = spend[feature.drivers.feature]
        levels.append(
            FeatureLevel(
                multiplier=float(multiplier),
                usd_per_day=_usd(mine),
                share=_ratio(mine / total) if total else None,
            )
        )
    return FeatureRecord(
        feature=feature.drivers.feature,
        unit="session" if feature.drivers.unit == "session" else "request",
        units_per_day=float(feature.units_per_day),
        calls_per_unit=_ratio(feature.calls_per_unit),
        tokens_per_call={
            kind: _ratio(feature.tokens_per_call(kind))
            for kind in ("input", "output", "cache_read", "cache_write")
        },
        cache_share=_ratio(feature.cache_share),
        cost_per_call_usd=_usd(feature.cost_per_call)
        if feature.cost_per_call is not None
        else None,
        api_usd_per_day=_usd(feature.api_usd / days),
        swap_delta_usd_per_day=_usd(feature.swap_delta_usd / days),
        gpu_usd_per_day=_usd(sum(feature.drivers.gpu_cost_usd.values(), Decimal(0)) / days),
        mix=[
            MixShare(provider=m.provider, model=m.model, calls_share=float(m.calls_share))
            for m in feature.mix
        ],
        levels=levels,
    )


def _deployment(
    deployment: projections.Deployment, multiplier: Decimal, days: int
) -> DeploymentRecord:
    even, full = deployment.break_even, deployment.full_at
    gpu, api = deployment.gpu_cost_at(multiplier), deployment.api_cost_at(multiplier)
    return DeploymentRecord(
        deployment=deployment.deployment,
        reference=deployment.reference,
        gpu_usd_per_day=_usd(deployment.gpu_cost_usd / days),
        reference_usd_per_day=_usd(deployment.reference_cost_usd / days),
        utilization=_ratio(deployment.utilization),
        full_at_multiplier=_ratio(full),
        break_even_multiplier=_ratio(even),
        gpu_usd_per_day_at_multiplier=_usd(gpu / days),
        api_usd_per_day_at_multiplier=_usd(api / days),
        self_hosting_cheaper=gpu < api,
    )
