"""Self-hosted deployments under more traffic: their GPU cost against the API price of the
same tokens, and the traffic multiplier at which the two break even.

The figures are the GPU page's (`/gpu/efficiency` with a reference model, computed by
`warehouse.queries.gpu`): GPU cost C and the reference model's cost R of the same tokens
over the window, and the utilization u. A deployment's GPUs cost the same however busy they
are until they are full (at 1/u times today's traffic), then grow with the traffic (more
GPUs at today's cost per busy GPU-hour). At m times today's traffic:

    self-hosted = C x max(1, m x u)        the API = m x R

so they break even at m = C / R, provided the GPUs are not full before (C / R x u <= 1);
otherwise even full GPUs cost more than the API (C x u > R) and they never break even.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import duckdb

from warehouse.queries import gpu as gpu_queries


@dataclass(frozen=True)
class Deployment:
    deployment: str | None
    reference: str  # provider/model
    gpu_cost_usd: Decimal  # over the window
    reference_cost_usd: Decimal  # the same tokens at the reference model's prices
    utilization: Decimal | None  # busy / GPU time

    def gpu_cost_at(self, multiplier: Decimal) -> Decimal:
        busy = multiplier * (self.utilization or Decimal(0))
        return self.gpu_cost_usd * max(Decimal(1), busy)

    def api_cost_at(self, multiplier: Decimal) -> Decimal:
        return self.reference_cost_usd * multiplier

    @property
    def full_at(self) -> Decimal | None:
        """The multiplier at which the GPUs are busy all the time."""
        return 1 / self.utilization if self.utilization else None

    @property
    def break_even(self) -> Decimal | None:
        """The traffic multiplier from which self-hosting is the cheaper (None: never)."""
        if self.reference_cost_usd <= 0 or self.gpu_cost_usd <= 0:
            return None
        ratio = self.gpu_cost_usd / self.reference_cost_usd
        if self.utilization is not None and ratio * self.utilization > 1:
            return None
        return ratio


def deployments(
    cursor: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime, reference: str
) -> list[Deployment]:
    """Each deployment's GPU cost, its tokens at `reference`'s API prices (`provider/model`)
    and its utilization over [start, end)."""
    provider, model = reference.split("/", 1)
    prices = gpu_queries.reference_prices(cursor, provider, model, end)
    result = []
    for row in gpu_queries.efficiency_rows(cursor, start, end, None, None):
        gpu_ms, busy_ms = int(row["gpu_ms"] or 0), int(row["busy_ms"] or 0)
        result.append(
            Deployment(
                deployment=row["deployment"],
                reference=reference,
                gpu_cost_usd=gpu_queries.usd(row["cost_nanos"]) or Decimal(0),
                reference_cost_usd=gpu_queries.reference_cost(
                    prices, int(row["prompt_tokens"] or 0), int(row["generation_tokens"] or 0)
                ),
                utilization=Decimal(busy_ms) / Decimal(gpu_ms) if gpu_ms else None,
            )
        )
    return result
