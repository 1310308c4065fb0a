"""`GET /api/v1/budget/check`: allow / deny before a model call, from live spend.

An agent, gateway or app asks with its session, feature and tenant; the answer comes from the
live ledger (`warehouse.ledger`), in memory: no database read, no thread hop (the handler and
its token check are async), so it answers in well under a millisecond of server time
(bench/budget_check.py). Limits: the detection file's `[budget_check]` section and the
budgets it enforces (docs/budgets.md).

Tenant scope: a tenant-scoped token checks its own tenant (`tenant` may be omitted; another
tenant is 403). The limits that span tenants (a feature's or the total's) still decide for
it, but their spend is not shown to it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from collector import auth
from collector.api.deps import BudgetChecks, api_context
from collector.api.errors import COMMON, errors
from collector.api.routers.prices import decimal_text
from warehouse.core.clock import utc
from warehouse.core.errors import Unavailable
from warehouse.ledger.ledger import CheckResult, ScopeStatus
from warehouse.store.scope import TenantScope

MAX_ID = 512


async def _scope(request: Request) -> TenantScope:
    """`read_scope` without a thread hop: the check is on the caller's hot path."""
    return auth.read_scope(api_context(request).tokens)(request)


async def _checks(request: Request) -> BudgetChecks:
    checks = api_context(request).budget_checks
    if checks is None or checks.ledger.seeded_at is None:
        raise Unavailable("the live ledger is not ready yet (the service is starting)")
    return checks


router = APIRouter(prefix="/api/v1", responses=COMMON)


class ScopeRecord(BaseModel):
    scope: Literal["session", "total", "feature", "tenant"]
    value: str | None = Field(description="The session id, feature or tenant; null for total.")
    budget: str | None = Field(description="The enforced budget's name; null for a session.")
    period: Literal["session", "day", "month"]
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    spend_usd: str | None = Field(
        description="Spend so far in the period (exact decimal); null when it spans tenants "
        "and the token is tenant-scoped."
    )
    limit_usd: str | None = Field(description="The limit; null: none holds this scope.")
    remaining_usd: str | None
    calls: int | None
    unpriced_calls: int | None = Field(
        description="Calls no price covers yet: counted, but not in `spend_usd`."
    )
    exceeded: bool


class BudgetCheckResponse(BaseModel):
    allowed: bool
    decision: Literal["allow", "deny"]
    reason: str | None = Field(description="Why denied: the first limit reached.")
    spend_source: Literal["live"] = Field(
        description="`live`: the ledger in memory, fed as spans are committed and priced "
        "with the price book, on top of what the pricing job had priced at `seeded_at`."
    )
    seeded_at: dt.datetime | None
    at: dt.datetime
    scopes: list[ScopeRecord]


def _money(value: object) -> str | None:
    return decimal_text(value)  # type: ignore[arg-type]


def _record(status: ScopeStatus, hidden: bool) -> ScopeRecord:
    return ScopeRecord(
        scope=status.scope,
        value=status.value,
        budget=status.name,
        period=status.period,
        period_start=utc(status.period_start),
        period_end=utc(status.period_end),
        spend_usd=None if hidden else _money(status.spend_usd),
        limit_usd=_money(status.limit_usd),
        remaining_usd=None if hidden else _money(status.remaining_usd),
        calls=None if hidden else status.calls,
        unpriced_calls=None if hidden else status.unpriced_calls,
        exceeded=status.exceeded,
    )


def _reason(result: CheckResult) -> str | None:
    for status in result.denied_by:
        what = (
            f"session {status.value}" if status.scope == "session"
            else "total spend" if status.scope == "total"
            else f"{status.scope} {status.value}"
        )  # fmt: skip
        span = "" if status.period == "session" else f" this {status.period}"
        return f"{what} reached its limit of ${_money(status.limit_usd)}{span}"
    return None


Id = Annotated[str | None, Query(max_length=MAX_ID)]


@router.get(
    "/budget/check",
    response_model=BudgetCheckResponse,
    summary="Allow or deny a model call, from live spend",
    tags=["budgets"],
    responses=errors(403, 503),
)
async def check(
    scope: Annotated[TenantScope, Depends(_scope)],
    checks: Annotated[BudgetChecks, Depends(_checks)],
    session_id: Annotated[
        str | None, Query(max_length=MAX_ID, description="The caller's session.")
    ] = None,
    feature: Annotated[
        str | None, Query(max_length=MAX_ID, description="The feature the call is for.")
    ] = None,
    tenant: Annotated[
        str | None,
        Query(
            max_length=MAX_ID,
            description="The tenant (session ids are unique per tenant). Default: the "
            "token's tenant for a tenant-scoped token, else none.",
        ),
    ] = None,
) -> BudgetCheckResponse:
    """Whether a model call may go ahead: denied once the session, the feature today, the
    tenant or the total has spent its limit (each limit that applies is listed with its
    spend and what remains). Spend is live: calls count as soon as their spans are
    committed, priced with the price book, without waiting for the jobs. A session is
    reported even when no limit holds it."""
    if not scope.unscoped:
        if tenant is not None and tenant != scope.tenant_id:
            raise HTTPException(403, "a tenant-scoped token checks its own tenant only")
        tenant = scope.tenant_id
    now = dt.datetime.now(dt.UTC)
    result = checks.ledger.check(now, tenant_id=tenant, session_id=session_id, feature=feature)
    decision: Literal["allow", "deny"] = "allow" if result.allowed else "deny"
    checks.answered.labels(decision).inc()
    hide = not scope.unscoped
    return BudgetCheckResponse(
        allowed=result.allowed,
        decision=decision,
        reason=_reason(result),
        spend_source="live",
        seeded_at=utc(result.seeded_at),
        at=now,
        scopes=[_record(s, hide and s.scope in ("total", "feature")) for s in result.scopes],
    )
