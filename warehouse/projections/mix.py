"""A change of model mix: move a share of one model's calls to another model, priced with the
price book at the feature's recorded tokens per call of the model they leave.

Kept small on purpose: what-if repricing proper (routing rules, caching, batch) lives with the
savings what-ifs; this prices one moved share with the standard-tier rates in effect now.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import duckdb

from warehouse.core.errors import InvalidRequest
from warehouse.pricing.periods import Rates
from warehouse.projections.drivers import ModelUsage
from warehouse.queries import gpu as gpu_queries

MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Swap:
    """`share` (0-1] of the calls of `source` (a model, or provider/model) go to `target`."""

    source: str
    target: str
    share: Decimal

    @property
    def text(self) -> str:
        return f"{self.source}:{self.target}:{self.share}"

    def moves(self, usage: ModelUsage) -> bool:
        return self.source in (usage.model, f"{usage.provider}/{usage.model}")


def parse_swap(text: str) -> Swap:
    """`MODEL_A:MODEL_B:SHARE`, e.g. `gpt-4o:gpt-4o-mini:0.5`."""
    head, _, share_text = text.rpartition(":")
    source, _, target = head.partition(":")
    if not source or not target:
        raise InvalidRequest(f"swap {text!r}: expected MODEL_A:MODEL_B:SHARE")
    try:
        share = Decimal(share_text)
    except InvalidOperation:
        raise InvalidRequest(f"swap {text!r}: share {share_text!r} is not a number") from None
    if not share.is_finite() or not Decimal(0) < share <= Decimal(1):
        raise InvalidRequest(f"swap {text!r}: share must be above 0 and at most 1")
    return Swap(source, target, share)


class Pricer:
    """The standard rates of the models swapped to, at one moment, looked up once each."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, at: dt.datetime) -> None:
        self.cursor, self.at = cursor, at
        self.found: dict[tuple[str, str], Rates] = {}

    def target(self, swap: Swap, usage: ModelUsage) -> tuple[str, str, Rates]:
        """The provider, model and rates `swap.target` names: a model of the source's
        provider, or else `provider/model`."""
        candidates = [(usage.provider, swap.target)]
        if "/" in swap.target:
            provider, model = swap.target.split("/", 1)
            candidates.append((provider, model))
        for provider, model in candidates:
            if (provider, model) not in self.found:
                try:
                    rates = gpu_queries.standard_rates(self.cursor, provider, model, self.at)
                except InvalidRequest:
                    continue
                self.found[(provider, model)] = rates
            return provider, model, self.found[(provider, model)]
        raise InvalidRequest(f"swap {swap.text!r}: no price for model {swap.target}")


def repriced(usage: ModelUsage, rates: Rates) -> Decimal:
    """What `usage`'s calls, with their tokens, would cost at `rates`."""
    uncached = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens
    return (
        max(uncached, 0) * rates.input_mtok
        + usage.cache_read_tokens * rates.cache_read_mtok
        + usage.cache_write_tokens * rates.cache_write_mtok
        + usage.output_tokens * rates.output_mtok
    ) / MILLION
