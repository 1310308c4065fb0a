"""The latency API: `/api/v1/latency`, p50 / p95 latency and time to first token beside
cost and calls, by feature, provider and model (`warehouse.queries.latency`), in the
caller's tenant scope. The trade-off a routing decision needs: what a model costs per 1,000
requests and how long it takes to answer.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from collector.api.deps import Cursor, read_scope
from collector.api.errors import COMMON, ErrorDetail
from collector.api.routers import costs_examples as examples
from collector.api.routers.costs_models import LatencyDimension, LatencyResponse, LatencyRow
from collector.api.routers.prices import decimal_text
from collector.api.window import End, Start, requested_window
from collector.auth import Scope
from warehouse.core.clock import utc
from warehouse.queries import costs as cost_queries
from warehouse.queries.costs import CostQuery, Window, coverage, known_cost
from warehouse.queries.latency import NONE, latency
from warehouse.queries.unit_economics import ratio

Filter = Annotated[str | None, Query(min_length=1, max_length=512)]
DEFAULT_GROUP_BY: tuple[LatencyDimension, ...] = ("provider", "model")

router = APIRouter(
    prefix="/api/v1",
    tags=["costs"],
    dependencies=[Depends(read_scope)],
    responses=COMMON,
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
    dimensions = tuple(group_by or DEFAULT_GROUP_BY)
    filters = {
        name: value
        for name, value in (
            ("feature", feature),
            ("model", model),
            ("tenant", tenant),
            ("environment", environment),
        )
        if value is not None
    }
    window = Window(*requested_window(start, end, dt.datetime.now(dt.UTC)))
    query = CostQuery(window=window, group_by=dimensions, filters=filters, limit=limit)
    costs = cost_queries.costs(cursor, query, scope)
    latencies = latency(cursor, window, scope, dimensions, filters)
    rows = [_row(row, dimensions, latencies) for row in costs.rows]
    return LatencyResponse(
        start=utc(costs.window.start),
        end=utc(costs.window.end),
        group_by=list(dimensions),
        rows=rows,
        truncated=costs.truncated,
    )


def _row(
    row: dict[str, Any],
    dimensions: tuple[str, ...],
    latencies: dict[tuple[str | None, ...], dict[str, Any]],
) -> LatencyRow:
    calls, unpriced = int(row["calls"]), int(row["unpriced_calls"])
    covered = coverage(calls, unpriced)
    cost = known_cost(Decimal(row["cost_usd"] or 0), calls, unpriced)
    per_1k = None if cost is None else ratio(cost * 1000, covered["priced_calls"])
    key = tuple(row[name] for name in dimensions)
    return LatencyRow(
        dimensions={name: row[name] for name in dimensions},
        calls=calls,
        unpriced_calls=unpriced,
        error_calls=int(row["error_calls"]),
        cost_usd=None if cost is None else decimal_text(cost) or "0",
        cost_per_1k_requests_usd=decimal_text(per_1k),
        **covered,
        **latencies.get(key, NONE),
    )
