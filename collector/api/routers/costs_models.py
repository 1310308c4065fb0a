"""The response models of the cost API (`collector.api.routers.costs`), its OpenAPI schema.

Money is an exact decimal string in USD. Unknown is unknown: an aggregate over calls none of
which is priced has a null cost (never "0"), and every aggregate says how much of it is
priced (`unpriced_calls`, `priced_calls`, `priced_share`, the share of its calls).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from collector.api.v1 import ModelCallRecord

Money = Annotated[str, Field(description="USD, exact decimal string.")]
Dimension = Literal["feature", "provider", "model", "tenant", "environment", "agent", "user"]
KNOWN = "null when there are calls and none of them is priced (unknown, never $0)"
LOWER_BOUND = (
    "Over the priced calls' cost: a lower bound while `priced_share` < 1; null when cost_usd is."
)


class Coverage(BaseModel):
    """How much of an aggregate is priced."""

    unpriced_calls: int = Field(
        description="Calls no price matched (or without usage): not in cost_usd, never $0."
    )
    priced_calls: int = Field(description="calls - unpriced_calls: the calls cost_usd covers.")
    priced_share: float | None = Field(
        description="Share of the calls that are priced, by calls (not by tokens or dollars): "
        "priced_calls / calls, 0-1; null without calls."
    )


class Tokens(BaseModel):
    input: int = Field(description="All input tokens, cache reads and writes included.")
    output: int = Field(description="All output tokens, reasoning included.")
    cache_read: int
    cache_write: int
    reasoning: int


class Usage(Coverage):
    cost_usd: Money | None = Field(
        description=f"Our cost of the priced calls (USD); {KNOWN}. Models the catalog prices "
        "at $0 are priced: they cost 0."
    )
    calls: int
    error_calls: int = Field(description="Calls whose span status was error.")
    tokens: Tokens
    reported_cost_usd: Money | None = Field(
        description="Sum of the costs the instrumentation reported, where it did."
    )
    cache_savings_usd: Money | None = Field(
        description=f"What cache reads saved against the full input price; {KNOWN}."
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


class Latency(BaseModel):
    """p50 / p95 latency and time to first token of the successful calls (error spans left
    out), in milliseconds; null where no call was measured."""

    latency_calls: int = Field(description="Successful calls measured (status not error).")
    latency_p50_ms: float | None = Field(
        None, description="Median model-call latency: the span's end - start (ms)."
    )
    latency_p95_ms: float | None = Field(None, description="95th percentile latency (ms).")
    ttft_calls: int = Field(
        description="Of them, streamed calls whose instrumentation set a time to first token."
    )
    ttft_p50_ms: float | None = Field(None, description="Median time to first token (ms).")
    ttft_p95_ms: float | None = Field(None, description="95th percentile time to first token (ms).")


class UnitEconomicsRecord(Latency, Coverage):
    feature: str | None
    cost_usd: Money | None = Field(
        description="The feature's cost of its priced calls in the window: failed and "
        f"abandoned sessions and retries included; {KNOWN}."
    )
    calls: int
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
    cost_per_value_unit_usd: Money | None = Field(
        description=f"cost_usd / value_units. {LOWER_BOUND}"
    )
    cost_per_successful_session_usd: Money | None = Field(
        description=f"cost_usd / successful_sessions. {LOWER_BOUND}"
    )
    cost_per_session_usd: Money | None = Field(description=f"cost_usd / sessions. {LOWER_BOUND}")
    cost_per_1k_requests_usd: Money | None = Field(
        description="cost_usd x 1000 / priced_calls: over the priced calls only (their cost "
        "over their count); null when none is priced."
    )


class UnitEconomicsResponse(BaseModel):
    currency: Literal["USD"] = "USD"
    start: dt.datetime = Field(description="Cost and calls cover whole hours from here.")
    end: dt.datetime
    features: list[UnitEconomicsRecord]


LatencyDimension = Literal["feature", "provider", "model", "tenant", "environment"]


class LatencyRow(Latency, Coverage):
    dimensions: dict[str, str | None] = Field(
        description="The group_by dimensions' values (null: calls without that dimension)."
    )
    calls: int
    error_calls: int = Field(description="Calls whose span status was error (not measured).")
    cost_usd: Money | None = Field(description=f"The priced calls' cost; {KNOWN}.")
    cost_per_1k_requests_usd: Money | None = Field(
        description="cost_usd x 1000 / priced_calls; null when none is priced."
    )


class LatencyResponse(BaseModel):
    currency: Literal["USD"] = "USD"
    start: dt.datetime = Field(description="The window covered, widened to whole hours.")
    end: dt.datetime
    group_by: list[LatencyDimension]
    rows: list[LatencyRow] = Field(description="Costliest first.")
    truncated: bool = Field(description="More groups than `limit`.")


class CacheSavingsRow(Coverage):
    feature: str | None
    provider: str
    model: str
    calls: int
    input_tokens: int = Field(description="All input tokens, cache reads included.")
    cache_read_tokens: int
    cost_usd: Money | None = Field(
        description=f"What the priced calls cost, with their cache reads; {KNOWN}."
    )
    cache_savings_usd: Money | None = Field(
        description=f"Cache read tokens x (full input price - cache read price); {KNOWN}."
    )
    cost_without_cache_usd: Money | None = Field(description="cost_usd + cache_savings_usd.")
    savings_rate: float | None = Field(description="cache_savings_usd / cost_without_cache_usd.")


class CacheSavingsResponse(Coverage):
    currency: Literal["USD"] = "USD"
    start: dt.datetime
    end: dt.datetime
    rows: list[CacheSavingsRow] = Field(description="By feature and model, most saved first.")
    truncated: bool
    calls: int = Field(description="Every call in the window (and filters), priced or not.")
    cache_savings_usd: Money | None = Field(description=f"Of the priced calls; {KNOWN}.")
    cost_usd: Money | None = Field(description=f"Of the priced calls; {KNOWN}.")
    cost_without_cache_usd: Money | None
