"""The detection API: `GET /api/v1/anomalies` (what the detectors found, with their
explanations) and `GET /api/v1/budgets` (spend against each budget, with the forecast),
both through the caller's tenant scope; `POST /api/v1/budgets/reload` re-reads the
detection file. Money as exact decimal strings in USD.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from collector.api.deps import Context, Cursor, full_access, read_scope
from collector.api.errors import COMMON, errors
from collector.api.routers.prices import decimal_text
from collector.api.timestamps import ApiTime
from collector.api.window import requested_window
from collector.auth import Scope
from warehouse.config import sync as config_sync
from warehouse.core.clock import utc
from warehouse.detection import budgets
from warehouse.ledger.limits import load_limits
from warehouse.queries.anomalies import list_anomalies

Money = Annotated[str, Field(description="USD, exact decimal string.")]
Kind = Literal["spend_anomaly", "runaway_session", "budget", "reconciliation_gap"]
DEFAULT_WINDOW = dt.timedelta(hours=24)


class Anomaly(BaseModel):
    kind: Kind
    series: str = Field(description="What is watched, e.g. spend:hour:feature=search.")
    direction: Literal["up", "down"]
    title: str
    firing: bool = Field(description="Fired on one of its detector's last two runs.")
    first_detected_at: dt.datetime
    last_detected_at: dt.datetime
    signals: int = Field(description="Detector runs that found it firing in the window.")
    window_start: dt.datetime = Field(description="The period the latest figures describe.")
    window_end: dt.datetime
    actual_usd: Money
    expected_usd: Money
    impact_usd: Money = Field(description="Projected dollar impact at the latest run.")
    peak_impact_usd: Money
    score: float
    tenant_id: str | None
    details: dict[str, Any] = Field(description="Dimensions, figures and the explanation.")


class AnomaliesResponse(BaseModel):
    start: dt.datetime
    end: dt.datetime
    anomalies: list[Anomaly]


class BudgetRecord(BaseModel):
    name: str
    scope: Literal["total", "feature", "tenant"]
    value: str | None = Field(description="The feature or tenant; null for a total budget.")
    period: Literal["day", "month"]
    period_start: dt.datetime
    period_end: dt.datetime
    amount_usd: Money
    spend_usd: Money = Field(description="Spend so far in the period.")
    percent: float = Field(description="Spend so far as a percentage of the amount.")
    forecast_usd: Money | None = Field(
        description="The period-end forecast: a month budget's is the month-end forecast of "
        "its spend (`GET /api/v1/forecast`), null without a complete day of history; a day "
        "budget's the spend so far plus the last 6 hours' rate to midnight."
    )
    forecast_overrun: bool
    thresholds: list[float] = Field(description="Alert thresholds, percent of the amount.")
    threshold_crossed: float | None = Field(description="The highest threshold reached.")
    firing: bool = Field(description="A threshold is reached or the forecast overruns.")


class BudgetsResponse(BaseModel):
    currency: Literal["USD"] = "USD"
    at: dt.datetime
    budgets: list[BudgetRecord]


class DetectionFileReloadResponse(BaseModel):
    file: str | None
    budgets: int


def _money(value: Any) -> str:
    return decimal_text(value) or "0"


router = APIRouter(prefix="/api/v1", dependencies=[Depends(read_scope)], responses=COMMON)


@router.get(
    "/anomalies",
    response_model=AnomaliesResponse,
    summary="What the detectors found",
    tags=["detection"],
)
def anomalies(
    scope: Scope,
    cursor: Cursor,
    context: Context,
    kind: Annotated[Kind | None, Query(description="Only this kind.")] = None,
    start: Annotated[
        ApiTime | None, Query(description="Detected from (default: end - 24 h).")
    ] = None,
    end: Annotated[ApiTime | None, Query(description="Detected before.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AnomaliesResponse:
    """Spend anomalies, runaway sessions and budgets that fired in the window, one entry
    per series and direction with its latest figures and explanation, the latest first.
    A tenant-scoped token sees only its tenant's series."""
    now = dt.datetime.now(dt.UTC)
    low, high = requested_window(start, end, now, default=DEFAULT_WINDOW)
    low, high = low.astimezone(dt.UTC), high.astimezone(dt.UTC)
    rows = list_anomalies(
        cursor, scope, low.replace(tzinfo=None), high.replace(tzinfo=None), kind=kind, limit=limit
    )
    result = []
    for row in rows:
        last = utc(row["last_detected_at"])
        recent = dt.timedelta(seconds=2 * context.detector_intervals.get(row["kind"], 60.0) + 5)
        result.append(
            Anomaly(
                kind=row["kind"],
                series=row["series"],
                direction=row["direction"],
                title=row["title"],
                firing=now - last <= recent,
                first_detected_at=utc(row["first_detected_at"]),
                last_detected_at=last,
                signals=row["signals"],
                window_start=utc(row["window_start"]),
                window_end=utc(row["window_end"]),
                actual_usd=_money(row["actual_usd"]),
                expected_usd=_money(row["expected_usd"]),
                impact_usd=_money(row["impact_usd"]),
                peak_impact_usd=_money(row["peak_impact_usd"]),
                score=row["score"],
                tenant_id=row["tenant_id"],
                details=row["details"],
            )
        )
    return AnomaliesResponse(start=low, end=high, anomalies=result)


@router.get(
    "/budgets",
    response_model=BudgetsResponse,
    summary="Spend against each budget, with the forecast",
    tags=["detection"],
)
def list_budgets(scope: Scope, cursor: Cursor) -> BudgetsResponse:
    """Every budget with its spend so far this day or month, the share of the amount,
    the month-end (day-end) forecast and the thresholds reached. A tenant-scoped token
    sees only its tenant's budgets."""
    now = dt.datetime.now(dt.UTC)
    found = budgets.statuses(cursor, now, scope)
    return BudgetsResponse(
        at=now,
        budgets=[
            BudgetRecord(
                name=s.budget.name,
                scope=s.budget.scope,
                value=s.budget.scope_value,
                period=s.budget.period,
                period_start=utc(s.period_start),
                period_end=utc(s.period_end),
                amount_usd=_money(s.budget.amount_usd),
                spend_usd=_money(s.spend_usd),
                percent=round(float(s.percent), 2),
                forecast_usd=None if s.forecast_usd is None else _money(round(s.forecast_usd, 6)),
                forecast_overrun=s.forecast_overrun,
                thresholds=[float(t) for t in s.budget.thresholds],
                threshold_crossed=float(s.crossed) if s.crossed is not None else None,
                firing=s.firing,
            )
            for s in found
        ],
    )


@router.post(
    "/budgets/reload",
    response_model=DetectionFileReloadResponse,
    summary="Re-read the detection file",
    tags=["detection"],
    dependencies=[Depends(full_access)],
    responses=errors(403),
)
def reload_budgets(cursor: Cursor, context: Context) -> DetectionFileReloadResponse:
    """Re-read `<data_dir>/detection.toml` (budgets and detector thresholds); an invalid
    file changes nothing (422 with every error)."""
    synced = config_sync.sync_detection_file(cursor, context.data_dir)
    if context.budget_checks is not None:  # the budget check's limits are the file's too
        context.budget_checks.ledger.set_limits(load_limits(cursor))
    return DetectionFileReloadResponse(
        file=str(synced.path) if synced.path else None, budgets=synced.budgets
    )
