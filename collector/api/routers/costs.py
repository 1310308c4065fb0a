"""The cost API: `/api/v1/costs`, `/sessions`, `/unit-economics`, `/latency` (p50 / p95
latency and time to first token beside cost) and `/cache-savings`.

JSON, money as exact decimal strings in USD; a cost over calls none of which is priced is
null, and every aggregate carries `unpriced_calls` and `priced_share` (`costs_models`).
Everything is read from the rollups (`warehouse.queries.costs`) through the caller's tenant
scope (`collector.auth.read_scope`).
Time windows are half-open, [start, end), in UTC; the default is the 30 days up to now.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Response

from collector.api.deps import Context, Cursor, read_scope
from collector.api.errors import COMMON, ErrorDetail
from collector.api.routers import costs_examples as examples
from collector.api.routers.costs_models import (
    CacheSavingsResponse,
    CacheSavingsRow,
    CostsResponse,
    Dimension,
    LatencyDimension,
    LatencyResponse,
    LatencyRow,
    SessionDetail,
    SessionRecord,
    SessionsResponse,
    Tokens,
    UnitEconomicsRecord,
    UnitEconomicsResponse,
    Usage,
)
from collector.api.routers.prices import decimal_text
from collector.api.v1 import model_call_record
from collector.api.window import End, Start, requested_window
from collector.auth import Scope
from warehouse.core.clock import utc
from warehouse.core.errors import Conflict, NotFound
from warehouse.queries import calls as queries
from warehouse.queries import costs as cost_queries
from warehouse.queries import unit_economics
from warehouse.queries.costs import CostQuery, Window, coverage, known_cost
from warehouse.queries.latency import NONE as NO_LATENCY
from warehouse.queries.latency import latency
from warehouse.queries.outcomes import list_outcomes
from warehouse.queries.unit_economics import ratio
from warehouse.store.scope import TenantScope

JSON = "application/json"
Filter = Annotated[str | None, Query(min_length=1, max_length=512)]


# ---- conversions -------------------------------------------------------------------------


def _money(value: Any) -> str:
    return decimal_text(Decimal(value or 0)) or "0"


def _known(value: Any, row: Mapping[str, Any]) -> str | None:
    """A sum of the priced calls of `row` (with `calls`, `unpriced_calls`) as the API writes
    it: null when none of its calls is priced, never "0" for an unknown cost."""
    return known_cost(_money(value), int(row["calls"]), int(row["unpriced_calls"]))


def _coverage(row: Mapping[str, Any]) -> dict[str, Any]:
    calls, unpriced = int(row["calls"]), int(row["unpriced_calls"])
    return {"calls": calls, "unpriced_calls": unpriced, **coverage(calls, unpriced)}


def _usage(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **_coverage(row),
        "cost_usd": _known(row["cost_usd"], row),
        "error_calls": int(row["error_calls"]),
        "tokens": Tokens(
            input=row["input_tokens"],
            output=row["output_tokens"],
            cache_read=row["cache_read_tokens"],
            cache_write=row["cache_write_tokens"],
            reasoning=row["reasoning_tokens"],
        ),
        "reported_cost_usd": decimal_text(row["reported_cost_usd"]),
        "cache_savings_usd": _known(row["cache_savings_usd"], row),
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


def _savings(row: Mapping[str, Any]) -> dict[str, Any]:
    """Cost, savings, cost without the cache and the savings rate of a row or the totals,
    over its priced calls; null (not 0) when none of its calls is priced."""
    cost, saved = Decimal(row["cost_usd"] or 0), Decimal(row["cache_savings_usd"] or 0)
    rate = float(saved / (cost + saved)) if cost + saved else None
    return {
        **_coverage(row),
        "cost_usd": _known(cost, row),
        "cache_savings_usd": _known(saved, row),
        "cost_without_cache_usd": _known(cost + saved, row),
        "savings_rate": known_cost(rate, row["calls"], row["unpriced_calls"]),
    }


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
    widened to whole ones, and the response says which window it covered. Each row and
    the totals say how much is priced (`unpriced_calls`, `priced_calls`, `priced_share`);
    their cost is the priced calls', null when none of them is priced."""
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
    session and per 1,000 requests. A ratio whose denominator is zero is null. With
    unpriced calls the cost is the priced calls' (null when none is priced), cost per
    1,000 requests is over the priced calls, and the other ratios are lower bounds.
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
    "/latency",
    response_model=LatencyResponse,
    summary="p50 / p95 latency and time to first token beside cost, by feature and model",
    responses={
        **examples.ok(examples.LATENCY),
        400: {"model": ErrorDetail, "description": "A dimension given twice in group_by."},
    },
)
def get_latency(
    scope: Scope,
    cursor: Cursor,
    group_by: Annotated[
        list[LatencyDimension] | None,
        Query(
            description="Dimensions to group by, repeated (`group_by=feature&group_by=model`);"
            " default provider and model."
        ),
    ] = None,
    start: Start = None,
    end: End = None,
    feature: Filter = None,
    model: Filter = None,
    tenant: Filter = None,
    environment: Filter = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> LatencyResponse:
    """Per group over the window (whole hours): calls, their cost and cost per 1,000
    requests (over the priced calls), and the p50 / p95 latency (span end - start) and time
    to first token (streamed calls whose instrumentation set one) of the successful calls,
    in milliseconds. Error calls are counted, not measured. Costliest groups first."""
    dimensions = tuple(group_by or ("provider", "model"))
    filters = _given(feature=feature, model=model, tenant=tenant, environment=environment)
    window = _window(start, end)
    query = CostQuery(window=window, group_by=dimensions, filters=filters, limit=limit)
    result = cost_queries.costs(cursor, query, scope)
    latencies = latency(cursor, window, scope, dimensions, filters)
    rows = []
    for row in result.rows:
        covered = _coverage(row)
        cost = known_cost(Decimal(row["cost_usd"] or 0), row["calls"], row["unpriced_calls"])
        rows.append(
            LatencyRow(
                **covered,
                dimensions={name: row[name] for name in dimensions},
                error_calls=int(row["error_calls"]),
                cost_usd=_known(row["cost_usd"], row),
                cost_per_1k_requests_usd=None
                if cost is None
                else decimal_text(ratio(cost * 1000, covered["priced_calls"])),
                **latencies.get(tuple(row[name] for name in dimensions), NO_LATENCY),
            )
        )
    return LatencyResponse(
        start=utc(result.window.start),
        end=utc(result.window.end),
        group_by=list(dimensions),
        rows=rows,
        truncated=result.truncated,
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
    optionally of one tenant and/or environment. Amounts are over the priced calls, null
    for a row (or the totals) none of whose calls is priced."""
    query = CostQuery(
        window=_window(start, end),
        group_by=("feature", "provider", "model"),
        filters=_given(tenant=tenant, environment=environment),
        limit=limit,
    )
    result = cost_queries.costs(cursor, query, scope)
    rows = sorted(result.rows, key=lambda r: -Decimal(r["cache_savings_usd"] or 0))
    return CacheSavingsResponse(
        start=utc(result.window.start),
        end=utc(result.window.end),
        rows=[
            CacheSavingsRow(
                feature=row["feature"],
                provider=row["provider"],
                model=row["model"],
                input_tokens=row["input_tokens"],
                cache_read_tokens=row["cache_read_tokens"],
                **_savings(row),
            )
            for row in rows
        ],
        truncated=result.truncated,
        **_savings(result.totals),
    )
