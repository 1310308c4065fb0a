"""What the `/api/v1` handlers depend on, and the one place domain errors become HTTP.

Handlers are module-level functions. The service's parts they need (the database, the token
sets, the price file's status, the alert channels, ...) are an `ApiContext` on `app.state.api`
(`install`), and reach a handler through the dependencies here: `Context`, `Cursor` (one
cursor per request, closed after the handler), the token checks (`read_scope`, `full_access`,
`fleet_scope`, `report_access`) and `Intake` (the outcome writer).

`install` also registers the exception handlers: a domain error (`warehouse.core.errors`)
answers `{"detail": ...}` with the status of its kind: `InvalidRequest` its `status_code`
(422 unless the error names another), `NotFound` 404, `Conflict` 409, `Unavailable` 503 with
`Retry-After`. `InvalidEntries` lists every bad entry as the detail; the others give their
message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import duckdb
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import Counter

from collector import auth
from collector.alerting.channel import Channel
from collector.api.price_file_status import PriceFileStatus
from collector.auth import Scope, TokenSet
from collector.ingest.logs.outcome_writer import OutcomeMetrics, OutcomeWriter
from warehouse.core.errors import (
    Conflict,
    InvalidEntries,
    InvalidRequest,
    NotFound,
    SpendscopeError,
    Unavailable,
)
from warehouse.ledger.ledger import LiveLedger
from warehouse.store.database import Database
from warehouse.store.scope import TenantScope


def _nothing() -> None:
    pass


@dataclass(frozen=True)
class OutcomeIntake:
    """Where `POST /api/v1/outcomes` puts what apps report, and who may report."""

    writer: OutcomeWriter
    metrics: OutcomeMetrics
    tokens: TokenSet
    max_body_bytes: int


@dataclass(frozen=True)
class BudgetChecks:
    """The live ledger the budget check reads (`warehouse.ledger`), and its counter."""

    ledger: LiveLedger
    answered: Counter  # by decision


@dataclass(frozen=True)
class ApiContext:
    """The service's parts the API reads and changes; one per app, on `app.state.api`."""

    database: Database
    tokens: TokenSet  # every /api/v1 reader: unscoped and tenant-scoped tokens
    data_dir: Path  # where the price file and the detection file are
    price_file: PriceFileStatus = field(default_factory=PriceFileStatus)
    channels: Sequence[Channel] = ()
    wake_dispatcher: Callable[[], None] = _nothing  # the outbox has something new
    value_units: Mapping[str, str] = field(default_factory=dict)  # feature -> outcome name
    detector_intervals: Mapping[str, float] = field(default_factory=dict)  # kind -> seconds
    outcomes: OutcomeIntake | None = None
    retry_after_seconds: int = 2  # the Retry-After of a 503
    budget_checks: BudgetChecks | None = None  # None: this app answers no budget check


def install(app: FastAPI, context: ApiContext) -> None:
    """Give `app`'s API routers their context, and map domain errors to HTTP."""
    app.state.api = context
    app.add_exception_handler(SpendscopeError, _domain_error)


def api_context(request: Request) -> ApiContext:
    context = getattr(request.app.state, "api", None)
    if not isinstance(context, ApiContext):
        raise RuntimeError("no ApiContext on app.state.api: call collector.api.deps.install")
    return context


Context = Annotated[ApiContext, Depends(api_context)]


def _cursor(context: Context) -> Iterator[duckdb.DuckDBPyConnection]:
    cursor = context.database.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


# A cursor of the serving process for one request, closed once the handler returns.
Cursor = Annotated[duckdb.DuckDBPyConnection, Depends(_cursor, scope="function")]


# ---- who may ask -------------------------------------------------------------------------


def read_scope(request: Request, context: Context) -> TenantScope:
    """Router dependency: 401 without an accepted API token; the caller's scope, also kept
    for the handler's `Scope` parameter (`collector.auth`)."""
    return auth.read_scope(context.tokens)(request)


def full_access(request: Request, context: Context) -> None:
    """For changes that affect every tenant: 401 without a token, 403 for a scoped one."""
    auth.full_access(context.tokens)(request)


def fleet_scope(scope: Scope) -> None:
    """For what describes the shared GPU fleet: 403 for a tenant-scoped token."""
    if not scope.unscoped:
        raise HTTPException(
            403, "GPU efficiency and GPU prices cover the shared fleet: use an unscoped token"
        )


def intake(context: Context) -> OutcomeIntake:
    if context.outcomes is None:
        raise RuntimeError("this app takes no outcomes (ApiContext.outcomes is None)")
    return context.outcomes


Intake = Annotated[OutcomeIntake, Depends(intake)]


def report_access(request: Request, outcomes: Intake) -> None:
    """401 unless the token may report outcomes (an ingest or API token)."""
    auth.read_scope(outcomes.tokens)(request)


# ---- domain errors as HTTP ---------------------------------------------------------------

_STATUS: tuple[tuple[type[SpendscopeError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (Unavailable, 503),
)


def status_code(error: SpendscopeError) -> int | None:
    """The HTTP status of a domain error's kind; None for one of no kind (a server error)."""
    if isinstance(error, InvalidRequest):
        return error.status_code
    return next((code for kind, code in _STATUS if isinstance(error, kind)), None)


async def _domain_error(request: Request, error: Exception) -> Response:
    status = status_code(error) if isinstance(error, SpendscopeError) else None
    if status is None:
        raise error
    detail: Any = error.errors if isinstance(error, InvalidEntries) else str(error)
    headers = None
    if isinstance(error, Unavailable):
        headers = {"Retry-After": str(api_context(request).retry_after_seconds)}
    return JSONResponse({"detail": detail}, status, headers=headers)
