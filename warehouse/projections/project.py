"""Projections at 1x, 10x, 100x (or any multiplier) from each feature's measured drivers.

A feature's API spend per day is

    sessions (or requests) per day x calls per session x cost per call

with cost per call from its tokens per call, today's model mix and cache share at the prices
it was recorded at, so m times the traffic costs m times as much. A change of mix (`Swap`)
reprices the moved share first. A feature's self-hosted calls cost their share of their
deployment's GPUs, fixed until the GPUs are full (`selfhosted`). Money is exact (Decimal).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import duckdb

from warehouse.core.errors import InvalidRequest
from warehouse.projections.drivers import FeatureDrivers, feature_drivers, first_hour
from warehouse.projections.mix import Pricer, Swap, repriced
from warehouse.projections.selfhosted import Deployment, deployments
from warehouse.store.scope import ALL_TENANTS, TenantScope

DAYS = 7  # the complete days the drivers are measured over
LEVELS = (Decimal(1), Decimal(10), Decimal(100))
MONTH_DAYS = 30  # a "month" of projected spend
MAX_MULTIPLIER = Decimal(1_000_000)


@dataclass(frozen=True)
class MixShare:
    provider: str
    model: str
    calls_share: Decimal  # of the feature's calls, after any swap


@dataclass(frozen=True)
class FeatureProjection:
    drivers: FeatureDrivers
    days: int
    api_usd: Decimal  # API spend over the window, at today's traffic, swaps applied
    swap_delta_usd: Decimal  # what the swaps changed of it
    mix: tuple[MixShare, ...]

    @property
    def units_per_day(self) -> Decimal:
        return Decimal(self.drivers.units) / self.days

    @property
    def calls_per_unit(self) -> Decimal | None:
        units = self.drivers.units
        return Decimal(self.drivers.calls) / units if units else None

    @property
    def cost_per_call(self) -> Decimal | None:
        calls = self.drivers.calls
        return self.api_usd / calls if calls else None

    @property
    def cache_share(self) -> Decimal | None:
        total = self.drivers.tokens("input")
        return Decimal(self.drivers.tokens("cache_read")) / total if total else None

    def tokens_per_call(self, kind: str) -> Decimal | None:
        calls = self.drivers.calls
        return Decimal(self.drivers.tokens(kind)) / calls if calls else None

    def per_day(self, multiplier: Decimal, fleet: dict[str | None, Deployment]) -> Decimal:
        """Spend per day at `multiplier` times today's traffic: the API part scales, the GPU
        part only once its deployment is full."""
        gpu = Decimal(0)
        for name, cost in self.drivers.gpu_cost_usd.items():
            deployment = fleet.get(name)
            grows = (
                deployment.gpu_cost_at(multiplier) / deployment.gpu_cost_usd
                if (deployment and deployment.gpu_cost_usd)
                else Decimal(1)
            )
            gpu += cost * grows
        return (self.api_usd * multiplier + gpu) / self.days


@dataclass(frozen=True)
class Projection:
    start: dt.datetime
    end: dt.datetime
    multiplier: Decimal
    swaps: tuple[Swap, ...]
    features: tuple[FeatureProjection, ...]
    fleet: tuple[Deployment, ...]

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def levels(self) -> tuple[Decimal, ...]:
        return tuple(sorted({*LEVELS, self.multiplier}))

    def per_day(self, multiplier: Decimal) -> dict[str, Decimal]:
        by_name = {d.deployment: d for d in self.fleet}
        return {f.drivers.feature: f.per_day(multiplier, by_name) for f in self.features}

    def dominant(self, multiplier: Decimal) -> str | None:
        spend = self.per_day(multiplier)
        return max(spend, key=lambda name: (spend[name], name)) if spend else None


def _reprice(
    drivers: FeatureDrivers, swaps: Sequence[Swap], pricer: Pricer
) -> tuple[Decimal, tuple[MixShare, ...]]:
    """The swaps' change to the feature's API spend, and its model mix after them."""
    delta = Decimal(0)
    calls: dict[tuple[str, str], Decimal] = {}
    for usage in drivers.models:
        left = Decimal(usage.calls)
        for swap in swaps:
            if swap.moves(usage) and usage.calls:
                provider, model, rates = pricer.target(swap, usage)
                moved = swap.share * left / usage.calls  # of this model's calls
                delta += moved * (repriced(usage, rates) - usage.cost_usd)
                calls[(provider, model)] = calls.get((provider, model), Decimal(0)) + (
                    moved * usage.calls
                )
                left -= moved * usage.calls
        key = (usage.provider, usage.model)
        calls[key] = calls.get(key, Decimal(0)) + left
    total = sum(calls.values(), Decimal(0))
    mix = tuple(
        MixShare(provider, model, count / total)
        for (provider, model), count in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))
        if count and total
    )
    return delta, mix


def project(
    cursor: duckdb.DuckDBPyConnection,
    now: dt.datetime,
    multiplier: Decimal,
    swaps: Sequence[Swap] = (),
    scope: TenantScope = ALL_TENANTS,
    filters: Mapping[str, str | None] | None = None,
    reference: str = "openai/gpt-4o-mini",
) -> Projection:
    """The projection at `multiplier` from the drivers of the last DAYS complete UTC days
    before `now` (fewer when the data begins later: from its first day), with `swaps`
    applied in order (each moves a share of what is left);
    `filters`: an environment and/or a tenant whose traffic grows."""
    if not multiplier.is_finite() or not Decimal(0) < multiplier <= MAX_MULTIPLIER:
        raise InvalidRequest(f"multiplier must be above 0 and at most {MAX_MULTIPLIER}")
    end = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - dt.timedelta(days=DAYS)
    # A fresh install has fewer days: the rates are per day of data, not of the window.
    first = first_hour(cursor, start, end, scope, filters)
    if first is not None:
        start = first.replace(hour=0)
    drivers = feature_drivers(cursor, start, end, scope, filters)
    for swap in swaps:
        if not any(swap.moves(u) for f in drivers for u in f.models):
            raise InvalidRequest(f"swap {swap.text!r}: no calls of {swap.source} to move")
    pricer = Pricer(cursor, end)
    features = []
    for found in drivers:
        delta, mix = _reprice(found, swaps, pricer)
        days = (end - start).days
        features.append(FeatureProjection(found, days, found.cost_usd + delta, delta, mix))
    return Projection(
        start=start,
        end=end,
        multiplier=multiplier,
        swaps=tuple(swaps),
        features=tuple(features),
        fleet=tuple(deployments(cursor, start, end, reference)),
    )
