"""The CI cost gate's runs (`spendscope gate record --server`): `POST /api/v1/gate/runs`
keeps a run, `GET /api/v1/gate/runs` lists them, `GET /api/v1/gate/runs/{id}` returns one,
`GET /api/v1/gate/compare` judges a head run against a base run (the same report as
`spendscope gate compare --format json`). Runs are the organisation's CI: a tenant-scoped
token gets 403."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from collector.api.deps import Cursor, full_access, read_scope
from collector.api.errors import COMMON, errors
from collector.auth import Scope
from warehouse.gate import report
from warehouse.gate.compare import compare_runs
from warehouse.gate.policy import Policy, Thresholds, judge
from warehouse.gate.run import run_from_json
from warehouse.gate.store import list_runs, load_run, save_run
from warehouse.store.transaction import transaction


class GateRunSummary(BaseModel):
    id: int
    label: str
    commit: str | None
    branch: str | None
    recorded_at: dt.datetime
    received_at: dt.datetime
    repetitions: int = Field(description="How many times the recorded command ran.")
    calls: int = Field(description="Model calls in the run.")


class GateRunsResponse(BaseModel):
    runs: list[GateRunSummary]


def organisation_only(scope: Scope) -> None:
    """Router dependency: 403 for a tenant-scoped token, before any parameter is read."""
    if not scope.unscoped:
        raise HTTPException(403, "gate runs are the organisation's CI: use an unscoped token")


router = APIRouter(
    prefix="/api/v1/gate",
    dependencies=[Depends(read_scope), Depends(organisation_only)],
    tags=["gate"],
    responses={**COMMON, **errors(403)},
)


@router.post(
    "/runs",
    response_model=GateRunSummary,
    summary="Keep a gate run",
    dependencies=[Depends(full_access)],
    responses=errors(400),  # a body that is not JSON
)
def post_run(
    cursor: Cursor,
    document: Annotated[dict[str, Any], Body(description="A run file's JSON, as written.")],
) -> GateRunSummary:
    """The body is a run file as `spendscope gate record` writes it (422 naming what is
    malformed)."""
    run = run_from_json(document)
    now = dt.datetime.now(dt.UTC)
    with transaction(cursor):
        run_id = save_run(cursor, run, now)
    return GateRunSummary(
        id=run_id,
        label=run.label,
        commit=run.commit,
        branch=run.branch,
        recorded_at=run.recorded_at,
        received_at=now,
        repetitions=run.repetitions,
        calls=len(run.calls),
    )


@router.get("/runs", response_model=GateRunsResponse, summary="Gate runs")
def get_runs(
    cursor: Cursor,
    branch: Annotated[str | None, Query(max_length=300)] = None,
    label: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> GateRunsResponse:
    """Newest first; of one branch or label when given."""
    return GateRunsResponse(
        runs=[GateRunSummary(**row) for row in list_runs(cursor, branch, label, limit)]
    )


@router.get("/runs/{run_id}", summary="One gate run, whole", responses=errors(404))
def get_run(cursor: Cursor, run_id: int) -> dict[str, Any]:
    """The run file's JSON, as it was posted."""
    return load_run(cursor, run_id).to_json()


@router.get("/compare", summary="Judge a head run against a base run", responses=errors(404))
def get_compare(
    cursor: Cursor,
    base: Annotated[int, Query(description="The base run's id.")],
    head: Annotated[int, Query(description="The head run's id.")],
    max_increase_pct: Annotated[
        float, Query(ge=0, description="Fail when the interval's lower end passes this.")
    ] = 10.0,
    confidence: Annotated[float, Query(ge=0.5, lt=1)] = 0.95,
) -> dict[str, Any]:
    """Per critical path: cost per run with a bootstrap interval, the change split into
    calls, tokens, price and cache, and the verdict (docs/gate.md)."""
    base_run, head_run = load_run(cursor, base), load_run(cursor, head)
    policy = Policy(Thresholds(max_increase_pct=max_increase_pct), confidence=confidence)
    judged = [judge(change, policy) for change in compare_runs(base_run, head_run, confidence)]
    return report.as_json(base_run, head_run, judged, policy)
