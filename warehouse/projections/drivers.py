"""The measured drivers of each feature's spend over a recent window of complete days.

Per feature: how many sessions (or, for a feature without sessions, such as a batch job,
requests: traces) a day, model calls per session, and per model (today's mix) its calls,
tokens and recorded cost, from `rollup_hourly` and `rollup_traces`; and the self-hosted GPU
cost its calls were allocated (`warehouse.queries.gpu`). Everything through the tenant scope.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb

from warehouse.core.clock import naive_utc, utc
from warehouse.core.rows import fetch_dicts
from warehouse.queries import gpu as gpu_queries
from warehouse.store.scope import TenantScope

NO_FEATURE = "(none)"  # calls no feature was attributed to


@dataclass(frozen=True)
class ModelUsage:
    """One model's calls within a feature over the window."""

    provider: str
    model: str
    calls: int
    unpriced_calls: int
    input_tokens: int  # cache reads and writes included
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: Decimal  # of the priced calls


@dataclass(frozen=True)
class FeatureDrivers:
    feature: str
    unit: str  # "session", or "request" for a feature without sessions
    units: int  # over the window
    models: tuple[ModelUsage, ...]
    gpu_cost_usd: dict[str | None, Decimal] = field(default_factory=dict)  # per deployment

    @property
    def calls(self) -> int:
        return sum(m.calls for m in self.models)

    @property
    def cost_usd(self) -> Decimal:
        return sum((m.cost_usd for m in self.models), Decimal(0))

    def tokens(self, kind: str) -> int:
        return sum(int(getattr(m, f"{kind}_tokens")) for m in self.models)


def _feature(value: str | None) -> str:
    return NO_FEATURE if value is None else value


FILTERS = {"environment": "environment", "tenant": "tenant_id"}  # filter: column


def _filters(filters: Mapping[str, str | None]) -> tuple[str, dict[str, Any]]:
    """`column = $name` for each filter given (FILTERS' fixed columns), or TRUE."""
    given = {name: value for name, value in filters.items() if value is not None}
    where = " AND ".join(f"{FILTERS[name]} = ${name}" for name in sorted(given))
    return where or "TRUE", given


def feature_drivers(
    cursor: duckdb.DuckDBPyConnection,
    start: dt.datetime,
    end: dt.datetime,
    scope: TenantScope,
    filters: Mapping[str, str | None] | None = None,
) -> list[FeatureDrivers]:
    """Each feature's drivers over [start, end) (whole UTC days), by cost, largest first;
    `filters`: an environment and/or a tenant."""
    condition, params = _filters(filters or {})
    window = {"start": naive_utc(start), "end": naive_utc(end)} | params | scope.params()
    usage = fetch_dicts(
        cursor,
        f"""
        SELECT feature, provider, model, sum(calls) AS calls,
               sum(unpriced_calls) AS unpriced_calls, sum(input_tokens) AS input_tokens,
               sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens,
               sum(cache_write_tokens) AS cache_write_tokens, sum(cost_usd) AS cost_usd
        FROM rollup_hourly
        WHERE hour >= $start AND hour < $end AND {condition} AND {scope.where("tenant_id")}
        GROUP BY ALL ORDER BY feature NULLS LAST, calls DESC, provider, model
        """,
        window,
    )
    units = fetch_dicts(
        cursor,
        f"""
        SELECT feature, count(DISTINCT coalesce(tenant_id, '') || '/' || session_id) AS sessions,
               count(DISTINCT trace_id) AS traces
        FROM rollup_traces
        WHERE day >= CAST($start AS DATE) AND day < CAST($end AS DATE) AND {condition}
          AND {scope.where("tenant_id")}
        GROUP BY ALL
        """,
        window,
    )
    counted = {_feature(row["feature"]): row for row in units}
    gpu = _gpu_costs(cursor, start, end, scope, filters or {})
    models: dict[str, list[ModelUsage]] = {}
    for row in usage:
        models.setdefault(_feature(row["feature"]), []).append(
            ModelUsage(
                provider=row["provider"],
                model=row["model"],
                calls=int(row["calls"]),
                unpriced_calls=int(row["unpriced_calls"]),
                input_tokens=int(row["input_tokens"]),
                output_tokens=int(row["output_tokens"]),
                cache_read_tokens=int(row["cache_read_tokens"]),
                cache_write_tokens=int(row["cache_write_tokens"]),
                cost_usd=Decimal(row["cost_usd"] or 0),
            )
        )
    result = []
    for feature, used in models.items():
        row = counted.get(feature, {"sessions": 0, "traces": 0})
        sessions = int(row["sessions"])
        result.append(
            FeatureDrivers(
                feature=feature,
                unit="session" if sessions else "request",
                units=sessions or int(row["traces"]),
                models=tuple(used),
                gpu_cost_usd=gpu.get(feature, {}),
            )
        )
    return sorted(result, key=lambda f: (-(f.cost_usd + sum(f.gpu_cost_usd.values())), f.feature))


def first_hour(
    cursor: duckdb.DuckDBPyConnection,
    start: dt.datetime,
    end: dt.datetime,
    scope: TenantScope,
    filters: Mapping[str, str | None] | None = None,
) -> dt.datetime | None:
    """The first hour with calls in [start, end) (a fresh install has less than the
    window), or None."""
    condition, params = _filters(filters or {})
    row = cursor.execute(
        f"SELECT min(hour) FROM rollup_hourly WHERE hour >= $start AND hour < $end "
        f"AND {condition} AND {scope.where('tenant_id')}",
        {"start": naive_utc(start), "end": naive_utc(end)} | params | scope.params(),
    ).fetchone()
    return None if row is None or row[0] is None else utc(row[0])


def _gpu_costs(
    cursor: duckdb.DuckDBPyConnection,
    start: dt.datetime,
    end: dt.datetime,
    scope: TenantScope,
    filters: Mapping[str, str | None],
) -> dict[str, dict[str | None, Decimal]]:
    """The self-hosted GPU cost allocated to each feature's calls, per deployment."""
    given = {name: value for name, value in filters.items() if value is not None}
    rows = gpu_queries.allocation_rows(cursor, scope, start, end, ("feature", *sorted(given)))
    result: dict[str, dict[str | None, Decimal]] = {}
    for row in rows:
        if any(row[name] != value for name, value in given.items()):
            continue
        costs = result.setdefault(_feature(row["feature"]), {})
        cost = gpu_queries.usd(row["cost_nanos"]) or Decimal(0)
        costs[row["deployment"]] = costs.get(row["deployment"], Decimal(0)) + cost
    return result
