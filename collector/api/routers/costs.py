"""The cost API: `/api/v1/costs`, `/sessions`, `/unit-economics` and `/cache-savings`.

JSON, money as exact decimal strings in USD. Everything is read from the rollups
(`warehouse.queries.costs`) through the caller's tenant scope (`collector.auth.read_scope`).
Time windows are half-open, [start, end), in UTC; the default is the 30 days up to now.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from collector.api.deps import Context, Cursor, read_scope
from collector.api.errors import COMMON, ErrorDetail
from collector.api.routers import costs_examples as examples
from collector.api.routers.prices import decimal_text
from collector.api.v1 import ModelCallRecord, model_call_record
from collector.api.window import End, Start, requested_window
from collector.auth import Scope
from warehouse.core.clock import utc
from warehouse.core.errors import Conflict, NotFound
from warehouse.queries import calls as queries
from warehouse.queries import costs as cost_queries
from warehouse.queries import unit_economics
from warehouse.queries.costs import CostQuery, Window
from warehouse.queries.outcomes import list_outcomes
from warehouse.store.scope import TenantScope

JSON = "application/json"
Money = Annotated[str, Field(description="USD, exact decimal string.")]
Dimension = Literal["feature", "provider", "model", "tenant", "environment", "agent", "user"]
Filter = Annotated[str | None, Query(min_length=1, max_length=512)]


class Tokens(BaseModel):
    input: int = Field(description="All input tokens, cache reads and writes included.")
    output: int = Field(description="All output tokens, reasoning included.")
    cache_read: int
    cache_write: int
    reasoning: int


class Usage(BaseModel):
    cost_usd: Money = Field(description="Our cost of the priced calls (USD).")
    calls: int
    unpriced_calls: int = Field(description="Calls no price matched: not in cost_usd, never $0.")
    error_calls: int = Field(description="Calls whose span status was error.")
    tokens: Tokens
    reported_cost_usd: Money | None = Field(
        description="Sum of the costs the instrumentation reported, where it did."
    )
    cache_savings_usd: Money = Field(
        description="What cache reads saved against the full input price."
    )


class CostRow(Usage):
    period: dt.datetime | None = Field(description="Start of the hour, day or month (UTC).")
    dimensions: dict[str, str | None] = Field(
        description="The group_by dimensions' values (null: calls without that dimension)."
    )


class CostsResponse(BaseModel):
    currency: Literal["USD"] = "USD"
    start: dt.datetime = Field(description="The window covered, widened to whole hours (days).")
    end: dt.datetime
    grain: Literal["hour", "day", "month"] | None
    group_by: list[Dimension]
    rows: list[CostRow]
    truncated: bool = Field(description="More rows than `limit`; totals still cover all.")
    totals: Usage


class SessionRecord(Usage):
    session_id: str
    feature: str | None = Field(description="The feature of the session's first call.")
    user_id: str | None
    tenant_id: str | None
    environment: str | None
    traces: int
    first_call_at: dt.datetime
    last_call_at: dt.datetime
    duration_seconds: float = Field(description="From the first call's start to the last's.")


class SessionsResponse(BaseModel):
    currency: Literal["USD"] = "USD"
    sessions: list[SessionRecord]


class SessionDetail(BaseModel):
    currency: Literal["USD"] = "USD"
    session: SessionRecord
    value_unit: str | None = Field(description="The value unit of the session's feature.")
    value_units: int | None = Field(
        description="Value units the session reached (outcomes not marked failed)."
    )
    calls: list[ModelCallRecord] = Field(description="Its model calls, oldest first.")
    calls_truncated: bool


class UnitEconomicsRecord(BaseModel):
    feature: str | None
    cost_usd: Money = Field(
        description="All the feature's cost in the window: failed and abandoned sessions and "
        "retries included."
    )
    calls: int
    unpriced_calls: int
    error_calls: int
    sessions: int = Field(description="Sessions whose first call is in the window.")
    value_unit: str | None = Field(description="The outcome configured as its value unit.")
    value_units: int | None = Field(
        description="Value-unit outcomes that occurred in the window, not marked failed."
    )
    failed_value_units: int | None = Field(description="Value-unit outcomes marked failed.")
    successful_sessions: int | None = Field(
        description="Of `sessions`, those that reached a value unit (even after the window)."
    )
    success_rate: float | None = Field(description="successful_sessions / sessions.")
    cost_per_value_unit_usd: Money | None = Field(description="cost_usd / value_units.")
    cost_per_successful_session_usd: Money | None = Field(
        description="cost_usd / successful_sessions."
    )
    cost_per_session_usd: Money | None = Field(description="cost_usd / sessions.")
    cost_per_1k_requests_usd: Money | None = Field(description="cost_usd x 1000 / calls.")


class UnitEconomicsResponse(BaseModel):
    currency: Literal["USD"] = "USD"
    start: dt.datetime = Field(description="Cost and calls cover whole hours from here.")
    end: dt.datetime
    features: list[UnitEconomicsRecord]


class CacheSavingsRow(BaseModel):
    feature: str | None
    provider: str
    model: str
    calls: int
    input_tokens: int = Field(description="All input tokens, cache reads included.")
    cache_read_tokens: int
    cost_usd: Money = Field(description="What the calls cost, with their cache reads.")
    cache_savings_usd: Money = Field(
        description="Cache read tokens x (full input price - cache read price)."
    )
    cost_without_cache_usd: Money = Field(description="cost_usd + cache_savings_usd.")
    savings_rate: float | None = Field(description="cache_savings_usd / cost_without_cache_usd.")


class CacheSavingsResponse(BaseModel):
    currency: Literal["USD"] = "USD"
    start: dt.datetime
    end: dt.datetime
    rows: list[CacheSavingsRow] = Field(description="By feature and model, most saved first.")
    truncated: bool
    cache_savings_usd: Money
    cost_usd: Money
    cost_without_cache_usd: Money


# ---- conversions -------------------------------------------------------------------------


def _money(value: Any) -> str:
    return decimal_text(Decimal(value or 0)) or "0"


def _usage(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "cost_usd": _money(row["cost_usd"]),
        "calls": int(row["calls"]),
        "unpriced_calls": int(row["unpriced_calls"]),
        "error_calls": int(row["error_calls"]),
        "tokens": Tokens(
            input=row["input_tokens"],
            output=row["output_tokens"],
            cache_read=row["cache_read_tokens"],
            cache_write=row["cache_write_tokens"],
            reasoning=row["reasoning_tokens"],
        ),
        "reported_cost_usd": decimal_text(row["reported_cost_usd"]),
        "cache_savings_usd": _money(row["cache_savings_usd"]),
    }


def _session(row: Mapping[str, Any]) -> SessionRecord:
    first, last = row["first_call_at"], row["last_call_at"]
    return SessionRecord(
        **_usage(row),
        session_id=row["session_id"],
        feature=row["feature"],
        user_id=row["user_id"],
        tenant_id=row["tenant_id"],
        environment=row["environment"],
        traces=row["traces"],
        first_call_at=utc(first),
        last_call_at=utc(last),
        duration_seconds=(last - first).total_seconds(),
    )


def _window(start: dt.datetime | None, end: dt.datetime | None) -> Window:
    return Window(*requested_window(start, end, dt.datetime.now(dt.UTC)))


def _given(**filters: str | None) -> dict[str, str]:
    """The filters the request set (a filter left out is None)."""
    return {name: value for name, value in filters.items() if value is not None}


def _share(part: Decimal, whole: Decimal) -> float | None:
    return float(part / whole) if whole else None


# ---- the routes ---------------------------------------------------------------------------


router = APIRouter(
    prefix="/api/v1",
    tags=["costs"],
    dependencies=[Depends(read_scope)],
    responses=COMMON,
)


@router.get(
    "/costs",
    response_model=CostsResponse,
    summary="Cost and usage by dimension and time",
    responses={
        **examples.ok(examples.COSTS),
        400: {
            "model": ErrorDetail,
            "description": "A grouping or filter the rollups cannot answer.",
        },
    },
)
def get_costs(
    scope: Scope,
    cursor: Cursor,
    group_by: Annotated[
        list[Dimension] | None,
        Query(
            description="Dimensions to group by, repeated (`group_by=feature&group_by=model`)."
            " `user` combines only with `tenant`."
        ),
    ] = None,
    grain: Annotated[
        Literal["hour", "day", "month", "none"],
        Query(description="Time buckets (UTC); none: one row per group for the window."),
    ] = "none",
    start: Start = None,
    end: End = None,
    feature: Filter = None,
    provider: Filter = None,
    model: Filter = None,
    tenant: Filter = None,
    environment: Filter = None,
    agent: Filter = None,
    user: Filter = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> Response:
    """Cost, calls, unpriced and failed calls, and tokens by type, grouped by any of the
    dimensions and by hour, day or month, with the totals of the whole selection.
    Filters match exact values. Hours (for `user`, days) are the unit: the window is
    widened to whole ones, and the response says which window it covered."""
    query = CostQuery(
        window=_window(start, end),
        group_by=tuple(group_by or ()),
        grain=None if grain == "none" else grain,
        filters=_given(
            feature=feature,
            provider=provider,
            model=model,
            tenant=tenant,
            environment=environment,
            agent=agent,
            user=user,
        ),
        limit=limit,
    )
    result = cost_queries.costs_json(cursor, query, scope)
    # The rows come as JSON from DuckDB (their shape is CostRow's: a test holds them to
    # it); returning a Response skips re-validating a thousand rows.
    body = {
        "currency": "USD",
        "start": utc(result.window.start),
        "end": utc(result.window.end),
        "grain": query.grain,
        "group_by": list(query.group_by),
        "rows": orjson.Fragment(result.rows),
        "truncated": result.truncated,
        "totals": Usage(**_usage(result.totals)).model_dump(),
    }
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type=JSON)


@router.get(
    "/sessions",
    response_model=SessionsResponse,
    summary="Top sessions by cost",
    responses=examples.ok(examples.SESSIONS),
)
def get_sessions(
    scope: Scope,
    cursor: Cursor,
    start: Start = None,
    end: End = None,
    feature: Filter = None,
    tenant: Filter = None,
    user: Filter = None,
    environment: Filter = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> SessionsResponse:
    """The costliest sessions with a model call in the window, with their whole cost.
    A session's feature, user and tenant are those of its first call."""
    filters = _given(feature=feature, tenant=tenant, user=user, environment=environment)
    rows = cost_queries.top_sessions(
        cursor, _window(start, end), scope, filters=filters, limit=limit
    )
    return SessionsResponse(sessions=[_session(row) for row in rows])


@router.get(
    "/sessions/{session_id}",
    response_model=SessionDetail,
    summary="One session: its cost, value units and calls",
    responses={
        **examples.ok(examples.SESSION_DETAIL),
        404: {"model": ErrorDetail, "description": "No such session (or not yet rolled up)."},
        409: {"model": ErrorDetail, "description": "The id is in several tenants: give one."},
    },
)
def get_session(
    scope: Scope,
    cursor: Cursor,
    context: Context,
    session_id: Annotated[str, Path(min_length=1, max_length=512)],
    limit: Annotated[int, Query(ge=1, le=10_000, description="Most calls listed.")] = 1000,
    tenant: Annotated[
        str | None,
        Query(
            max_length=512,
            description="The session's tenant (empty: calls without a tenant). Needed only "
            "when the id is used in several tenants the token may see.",
        ),
    ] = None,
) -> SessionDetail:
    """The session's rollup, the value units it reached (its feature's value unit, see
    SPENDSCOPE_VALUE_UNITS) and its model calls with their cost. A session is one
    tenant's: a tenant token gets its own; an unscoped token gets 409 when the id is
    in several tenants, then picks one with `tenant`."""
    rows = cost_queries.session(cursor, session_id, scope, tenant)
    if not rows:
        raise NotFound(f"no session {session_id!r}")
    if len(rows) > 1:
        tenants = ", ".join(repr(r["tenant_id"] or "") for r in rows)
        raise Conflict(f"session {session_id!r} is in tenants {tenants}: give `tenant`")
    found = rows[0]
    own = found["tenant_id"] or ""
    calls = queries.model_calls(
        cursor, session_id=session_id, tenant=own, limit=limit + 1, scope=scope
    )
    unit = context.value_units.get(found["feature"] or "")
    outcomes = (
        list_outcomes(cursor, session_id=session_id, tenant=own, name=unit, scope=scope)
        if unit
        else []
    )
    return SessionDetail(
        session=_session(found),
        value_unit=unit,
        value_units=sum(o["count"] for o in outcomes if o["success"] is not False)
        if unit
        else None,
        calls=[model_call_record(row) for row in calls[:limit]],
        calls_truncated=len(calls) > limit,
    )


@router.get(
    "/unit-economics",
    response_model=UnitEconomicsResponse,
    summary="Cost per value unit, per session and per 1,000 requests, by feature",
    responses=examples.ok(examples.UNIT_ECONOMICS),
)
def get_unit_economics(
    scope: Scope,
    cursor: Cursor,
    context: Context,
    start: Start = None,
    end: End = None,
    tenant: Filter = None,
) -> UnitEconomicsResponse:
    """Per feature over the window: all its cost (failed and abandoned sessions and
    retries included), calls, sessions, its value unit (SPENDSCOPE_VALUE_UNITS) and how
    many occurred, success rate, and cost per value unit, per successful session, per
    session and per 1,000 requests. A ratio whose denominator is zero is null.
    `tenant` narrows it to one tenant (within what the token may see)."""
    window = _window(start, end)
    rows: list[dict[str, Any]]
    if tenant is not None and not scope.unscoped and tenant != scope.tenant_id:
        rows = []  # another tenant than the token's: nothing it may see
    else:
        narrowed = TenantScope(tenant) if tenant is not None else scope
        rows = unit_economics.unit_economics(cursor, window, context.value_units, narrowed)
    hours = cost_queries.align(window, "hour")
    money = (
        "cost_usd",
        "cost_per_value_unit_usd",
        "cost_per_successful_session_usd",
        "cost_per_session_usd",
        "cost_per_1k_requests_usd",
    )
    return UnitEconomicsResponse(
        start=utc(hours.start),
        end=utc(hours.end),
        features=[
            UnitEconomicsRecord(**(row | {key: decimal_text(row[key]) for key in money}))
            for row in rows
        ],
    )


@router.get(
    "/cache-savings",
    response_model=CacheSavingsResponse,
    summary="What cache reads saved, by feature and model",
    responses=examples.ok(examples.CACHE_SAVINGS),
)
def get_cache_savings(
    scope: Scope,
    cursor: Cursor,
    start: Start = None,
    end: End = None,
    tenant: Filter = None,
    environment: Filter = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> CacheSavingsResponse:
    """What cache reads saved against the full input price of the same tokens, by
    feature, provider and model over the window (whole hours), most saved first;
    optionally of one tenant and/or environment."""
    query = CostQuery(
        window=_window(start, end),
        group_by=("feature", "provider", "model"),
        filters=_given(tenant=tenant, environment=environment),
        limit=limit,
    )
    result = cost_queries.costs(cursor, query, scope)
    rows = []
    for row in sorted(result.rows, key=lambda r: -Decimal(r["cache_savings_usd"] or 0)):
        cost, saved = Decimal(row["cost_usd"] or 0), Decimal(row["cache_savings_usd"] or 0)
        rows.append(
            CacheSavingsRow(
                feature=row["feature"],
                provider=row["provider"],
                model=row["model"],
                calls=row["calls"],
                input_tokens=row["input_tokens"],
                cache_read_tokens=row["cache_read_tokens"],
                cost_usd=_money(cost),
                cache_savings_usd=_money(saved),
                cost_without_cache_usd=_money(cost + saved),
                savings_rate=_share(saved, cost + saved),
            )
        )
    cost, saved = (
        Decimal(result.totals["cost_usd"]),
        Decimal(result.totals["cache_savings_usd"]),
    )
    return CacheSavingsResponse(
        start=utc(result.window.start),
        end=utc(result.window.end),
        rows=rows,
        truncated=result.truncated,
        cache_savings_usd=_money(saved),
        cost_usd=_money(cost),
        cost_without_cache_usd=_money(cost + saved),
    )
