"""`GET /api/v1/search`: a session, trace or user by its id (or the start of it), through
the caller's tenant scope, so that anything an alert, a log line or a customer names can
be looked up, not only the costliest sessions. Money as exact decimal strings in USD.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from collector.api.deps import Cursor, read_scope
from collector.api.errors import COMMON
from collector.api.routers.prices import decimal_text
from collector.auth import Scope
from warehouse.core.clock import utc
from warehouse.queries.search import MIN_PREFIX, search_ids

Money = Annotated[str, Field(description="USD, exact decimal string.")]


class Found(BaseModel):
    tenant_id: str | None
    calls: int
    unpriced_calls: int
    cost_usd: Money
    first_call_at: dt.datetime
    last_call_at: dt.datetime


class FoundSession(Found):
    session_id: str
    feature: str | None
    user_id: str | None
    environment: str | None


class FoundTrace(Found):
    trace_id: str = Field(description="32 hex characters.")
    session_id: str | None
    feature: str | None
    user_id: str | None


class FoundUser(Found):
    user_id: str


class SearchResponse(BaseModel):
    query: str
    sessions: list[FoundSession]
    traces: list[FoundTrace]
    users: list[FoundUser] = Field(description="One per (user, tenant): a user id is a tenant's.")


def _found(row: dict[str, Any]) -> dict[str, Any]:
    return row | {
        "cost_usd": decimal_text(row["cost_usd"]) or "0",
        "first_call_at": utc(row["first_call_at"]),
        "last_call_at": utc(row["last_call_at"]),
    }


router = APIRouter(prefix="/api/v1", dependencies=[Depends(read_scope)], responses=COMMON)


@router.get("/search", response_model=SearchResponse, summary="Find a session, trace or user by id")
def search(
    scope: Scope,
    cursor: Cursor,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=512,
            description=f"An id, or its first {MIN_PREFIX} characters or more.",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=100, description="Most matches of each kind.")] = 20,
) -> SearchResponse:
    """The sessions, traces (hex id) and users whose id is `q` or starts with it (from
    three characters), whole ids first; their calls, cost and first and last call. A
    tenant-scoped token finds only its tenant's."""
    found = search_ids(cursor, q, scope, limit)
    return SearchResponse(
        query=q.strip(),
        sessions=[FoundSession(**_found(row)) for row in found["sessions"]],
        traces=[FoundTrace(**_found(row)) for row in found["traces"]],
        users=[FoundUser(**_found(row)) for row in found["users"]],
    )
