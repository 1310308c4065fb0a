"""What-if savings from recorded calls (docs/savings.md): `GET /api/v1/savings` ranks the
opportunities (model swap, prompt caching, batch) by dollars per month, each with its
assumptions; `GET /api/v1/savings/what-if` replays a routing rule on a feature's (or a
tenant's) calls. Both read the caller's tenant scope only; money is exact decimal strings
in USD; monthly figures come with a bootstrap interval over days.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from collector.api.deps import Context, Cursor, read_scope
from collector.api.errors import COMMON, errors
from collector.api.routers.prices import decimal_text
from collector.api.window import End, Start, requested_window
from collector.auth import Scope
from warehouse.core.clock import utc
from warehouse.pricing.job import current_book
from warehouse.savings.interval import Monthly
from warehouse.savings.opportunities import KINDS, Kind, evidence_note, opportunities
from warehouse.savings.quality import ModelEvidence, same_model
from warehouse.savings.recorded import Selection
from warehouse.savings.tally import GroupSaving
from warehouse.savings.whatif import Rule, what_if
from warehouse.store.scope import TenantScope

ZERO = Decimal(0)
MAX_TOKENS = 1_000_000_000  # far above any model's context window
Filter = Annotated[str | None, Query(min_length=1, max_length=512)]
Confidence = Annotated[
    float, Query(ge=0.5, lt=1, description="Of the monthly intervals (bootstrap over days).")
]


class MonthlySaving(BaseModel):
    usd: str = Field(description="Dollars per month: the mean day x 30.44 days.")
    low_usd: str = Field(description="The interval's lower end.")
    high_usd: str = Field(description="The interval's upper end.")
    confidence: float
    days: int = Field(description="Days of recorded history the figure averages over.")


class Evidence(BaseModel):
    """How one model did within the feature over the window."""

    feature: str | None
    provider: str
    model: str
    calls: int
    error_calls: int
    error_rate: float
    sessions: int = Field(description="Sessions with a call of this model.")
    value_unit: str | None = Field(description="Null: the feature has no value unit.")
    successful_sessions: int | None
    success_rate: float | None = Field(description="Of sessions that reached the value unit.")


class Affected(BaseModel):
    calls: int = Field(description="Calls the change applies to.")
    unpriced_calls: int = Field(description="Of those, calls one side cannot price (left out).")
    cost_usd: str = Field(description="What the priced ones cost over the history.")
    what_if_cost_usd: str = Field(description="What they would have cost.")
    monthly_cost_usd: str = Field(description="What they cost per month.")
    monthly_savings: MonthlySaving


class OpportunityRecord(Affected):
    kind: Literal["model_swap", "prompt_caching", "batch"]
    feature: str | None
    provider: str
    model: str
    change: str = Field(description="What would change, in words.")
    to_provider: str | None = Field(description="model_swap: the target's provider.")
    to_model: str | None = Field(description="model_swap: the target model.")
    assumptions: list[str]
    evidence: list[Evidence] = Field(description="model_swap: every model of the feature.")
    evidence_note: str | None = Field(description="model_swap: the evidence in words.")


class SavingsResponse(BaseModel):
    currency: Literal["USD"] = "USD"
    start: dt.datetime
    end: dt.datetime
    calls: int = Field(description="Recorded calls looked at.")
    monthly_savings_usd: str = Field(
        description="Sum over the opportunities: they may overlap (a call can be swapped "
        "and cached), so it is an upper bound."
    )
    opportunities: list[OpportunityRecord]


class FeatureWhatIf(Affected):
    feature: str | None
    evidence_note: str


class WhatIfResponse(BaseModel):
    currency: Literal["USD"] = "USD"
    start: dt.datetime
    end: dt.datetime
    rule: str
    to_provider: str
    to_model: str
    calls: int = Field(description="Recorded calls selected.")
    moved_calls: int = Field(description="Of those, calls the rule routes to the target.")
    monthly_savings: MonthlySaving = Field(description="All features together.")
    features: list[FeatureWhatIf] = Field(description="Most saved first.")
    evidence: list[Evidence]
    tokenizer_ratios: dict[str, str] = Field(description="Source model -> ratio applied.")
    assumptions: list[str]


def _money(value: Decimal) -> str:
    return decimal_text(value) or "0"


def _monthly(monthly: Monthly) -> MonthlySaving:
    return MonthlySaving(
        usd=_money(monthly.usd),
        low_usd=_money(monthly.low_usd),
        high_usd=_money(monthly.high_usd),
        confidence=monthly.confidence,
        days=monthly.days,
    )


def _affected(group: GroupSaving) -> dict[str, Any]:
    return {
        "calls": group.calls,
        "unpriced_calls": group.unpriced_calls,
        "cost_usd": _money(group.recorded_usd),
        "what_if_cost_usd": _money(group.what_if_usd),
        "monthly_cost_usd": _money(group.monthly_recorded_usd),
        "monthly_savings": _monthly(group.saving),
    }


def _evidence(row: ModelEvidence) -> Evidence:
    return Evidence(
        feature=row.feature,
        provider=row.provider,
        model=row.model,
        calls=row.calls,
        error_calls=row.error_calls,
        error_rate=row.error_rate,
        sessions=row.sessions,
        value_unit=row.value_unit,
        successful_sessions=row.successful_sessions,
        success_rate=row.success_rate,
    )


def _selection(
    scope: TenantScope,
    start: dt.datetime | None,
    end: dt.datetime | None,
    feature: str | None,
    tenant: str | None,
) -> Selection:
    now = dt.datetime.now(dt.UTC)
    first, last = requested_window(start, end, now)
    return Selection(first, last, scope, feature, tenant, now)


router = APIRouter(
    prefix="/api/v1/savings",
    dependencies=[Depends(read_scope)],
    tags=["savings"],
    responses=COMMON,
)


@router.get("", response_model=SavingsResponse, summary="Savings opportunities, ranked")
def get_savings(
    scope: Scope,
    cursor: Cursor,
    context: Context,
    start: Start = None,
    end: End = None,
    tenant: Filter = None,
    kind: Annotated[
        list[Kind] | None, Query(description="Kinds to look for, repeated (default: all).")
    ] = None,
    confidence: Confidence = 0.9,
) -> SavingsResponse:
    """Model swaps (to a model that already served the feature), prompt caching of repeated
    input and batch prices for traffic nobody waits for, in the window's recorded calls,
    most dollars per month first, each with its assumptions and (swaps) the quality
    evidence of the feature's models. `tenant` narrows to one tenant within the scope."""
    selection = _selection(scope, start, end, None, tenant)
    found = opportunities(
        cursor,
        current_book(cursor),
        selection,
        context.value_units,
        confidence,
        tuple(kind) if kind else KINDS,
    )
    records = [
        OpportunityRecord(
            kind=o.kind,
            feature=o.feature,
            provider=o.provider,
            model=o.model,
            change=o.change,
            to_provider=o.to_provider,
            to_model=o.to_model,
            assumptions=list(o.assumptions),
            evidence=[_evidence(row) for row in o.evidence],
            evidence_note=o.evidence_note,
            **_affected(o.group),
        )
        for o in found.opportunities
    ]
    return SavingsResponse(
        start=utc(selection.start),
        end=utc(selection.end),
        calls=found.calls,
        monthly_savings_usd=_money(sum((o.group.saving.usd for o in found.opportunities), ZERO)),
        opportunities=records,
    )


@router.get(
    "/what-if",
    response_model=WhatIfResponse,
    summary="Replay a routing rule on recorded calls",
    responses=errors(404),
)
def get_what_if(
    scope: Scope,
    cursor: Cursor,
    context: Context,
    to_model: Annotated[str, Query(min_length=1, max_length=512, description="The target.")],
    feature: Filter = None,
    tenant: Filter = None,
    to_provider: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Default: the calls' provider."),
    ] = None,
    from_model: Annotated[
        str | None, Query(min_length=1, max_length=512, description="Move only its calls.")
    ] = None,
    max_input_tokens: Annotated[
        int | None,
        Query(ge=1, le=MAX_TOKENS, description="Move only calls with fewer input tokens."),
    ] = None,
    no_tools: Annotated[
        bool, Query(description="Move only calls whose trace ran no tool.")
    ] = False,
    start: Start = None,
    end: End = None,
    confidence: Confidence = 0.9,
) -> WhatIfResponse:
    """The selected calls (a feature's and/or a tenant's, within the scope) that match the
    rule are priced as `to_model`; the others keep their cost. Savings per feature per
    month with an interval, the quality evidence of every model that served each feature,
    and every assumption. 404: no recorded calls match; 422: the target has no price."""
    selection = _selection(scope, start, end, feature, tenant)
    rule = Rule(to_model, to_provider, from_model, max_input_tokens, no_tools)
    book = current_book(cursor)
    result = what_if(cursor, book, selection, rule, context.value_units, confidence)
    played = result.replay
    target = (played.target.provider, played.target.model)
    features = []
    for group in played.features:
        served = [row for row in result.evidence if row.feature == group.key[0]]
        ours = [
            row for row in served if same_model(book.catalog, (row.provider, row.model), target)
        ]
        others = [row for row in served if row not in ours]
        note = evidence_note(others[0] if others else None, ours[0] if ours else None)
        features.append(FeatureWhatIf(feature=group.key[0], evidence_note=note, **_affected(group)))
    return WhatIfResponse(
        start=utc(selection.start),
        end=utc(selection.end),
        rule=rule.describe(played.target.provider),
        to_provider=played.target.provider,
        to_model=played.target.model,
        calls=result.calls,
        moved_calls=played.moved_calls,
        monthly_savings=_monthly(played.total),
        features=features,
        evidence=[_evidence(row) for row in result.evidence],
        tokenizer_ratios={k: decimal_text(r.ratio) or "1" for k, r in played.tokenizers.items()},
        assumptions=played.assumptions,
    )
