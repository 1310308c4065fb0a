"""One model call's cost in Python, from the price book's periods: the pricing job's SQL
(`warehouse.pricing.calls.PRICE_CALLS`) for a single call, for the live ledger.

The same rule: the one period whose date range, UTC time-of-day window, service tier and
input-token band hold the call; input counts include cache reads and writes, output counts
include reasoning, so no token is counted twice. A call no period holds, or one without token
counts, has no price (None), never $0. Self-hosted GPU shares (`warehouse.gpu.allocation`)
are not known at ingest: such calls are priced here only if a token price covers them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from warehouse.pricing.periods import Period

MILLION = Decimal(1_000_000)
THOUSAND = Decimal(1000)
PRICED_TIERS = ("flex", "priority", "batch")  # the tiers priced apart; others are standard


@dataclass(frozen=True, slots=True)
class Usage:
    """A call's token counts as stored on its span (None: not reported)."""

    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_write_1h_tokens: int | None = None
    input_audio_tokens: int | None = None
    input_image_tokens: int | None = None
    output_audio_tokens: int | None = None
    output_image_tokens: int | None = None
    web_search_calls: int | None = None
    service_tier: str | None = None

    @property
    def reported(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None


def _holds(period: Period, start: dt.datetime, tier: str | None, input_tokens: int) -> bool:
    if period.service_tier != tier or not period.covers(start):
        return False
    moment = start.time()
    if period.time_of_day_from is not None and moment < period.time_of_day_from:
        return False
    if period.time_of_day_to is not None and moment >= period.time_of_day_to:
        return False
    upper = period.max_input_tokens
    return input_tokens >= period.min_input_tokens and (upper is None or input_tokens < upper)


def call_cost(periods: Sequence[Period], usage: Usage, start: dt.datetime) -> Decimal | None:
    """The call's cost in USD at its start time (naive UTC); None when it has no price."""
    if not usage.reported:
        return None
    n = {name: getattr(usage, name) or 0 for name in Usage.__dataclass_fields__}
    tier = usage.service_tier if usage.service_tier in PRICED_TIERS else None
    period = next((p for p in periods if _holds(p, start, tier, n["input_tokens"])), None)
    if period is None:
        return None
    r = period.rates
    output = n["output_tokens"]
    reasoning = min(n["reasoning_tokens"], output)
    cache_write = n["cache_write_tokens"]
    write_1h = min(n["cache_write_1h_tokens"], cache_write)
    plain_in = max(
        n["input_tokens"] - n["cache_read_tokens"] - cache_write
        - n["input_audio_tokens"] - n["input_image_tokens"],
        0,
    )  # fmt: skip
    plain_out = max(output - reasoning - n["output_audio_tokens"] - n["output_image_tokens"], 0)
    per_token = (
        plain_in * r.input_mtok
        + n["input_audio_tokens"] * r.input_audio_mtok
        + n["input_image_tokens"] * r.input_image_mtok
        + n["cache_read_tokens"] * r.cache_read_mtok
        + (cache_write - write_1h) * r.cache_write_mtok
        + write_1h * r.cache_write_1h_mtok
        + plain_out * r.output_mtok
        + reasoning * r.reasoning_mtok
        + n["output_audio_tokens"] * r.output_audio_mtok
        + n["output_image_tokens"] * r.output_image_mtok
    )
    requests = r.requests_kcount + n["web_search_calls"] * r.web_searches_kcount
    return per_token / MILLION + requests / THOUSAND
