"""Reading GPU efficiency and allocation for the API (`/api/v1/gpu/...`).

Figures come from the jobs' tables; money is integer nano-dollars there and exact decimal
USD here. Derived ratios (cost per million tokens, the reference model's cost) are Decimal
arithmetic, rounded to nano-dollars; utilization and tokens per GPU-second are floats.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

import duckdb

from warehouse.core.errors import InvalidRequest
from warehouse.core.rows import dicts
from warehouse.pricing.job import current_book
from warehouse.pricing.periods import Rates
from warehouse.pricing.pricebook import Period
from warehouse.store.scope import TenantScope

NANO = Decimal("0.000000001")
MS_PER_HOUR = Decimal(3_600_000)
HOURS = Decimal("0.000001")  # GPU-hours are reported to the micro-hour (3.6 ms)
Grain = Literal["hour", "day"]
ALLOCATION_DIMENSIONS = {
    "deployment": "g.deployment",
    "matched_by": "g.matched_by",
    "feature": "m.feature",
    "tenant": "m.tenant_id",
    "environment": "m.environment",
    "user": "m.user_id",
    "model": "coalesce(nullif(s.response_model, ''), s.request_model)",
}


def allocation_dimensions(group_by: tuple[str, ...]) -> list[str]:
    """The dimensions an allocation is grouped by: deployment first, then `group_by`; a user
    is identified within its tenant, so grouping by user groups by tenant too."""
    names = ["deployment", *[name for name in group_by if name != "deployment"]]
    if "user" in names and "tenant" not in names:
        names.append("tenant")
    return names


class GpuQueryError(InvalidRequest):
    """A request the GPU tables cannot answer (unknown reference model, dimension)."""

    status_code = 400


@dataclass(frozen=True)
class Reference:
    """The API model a self-hosted deployment is compared with (the break-even view)."""

    provider: str
    model: str
    input_mtok: Decimal
    output_mtok: Decimal


def usd(nanos: int | None) -> Decimal | None:
    return None if nanos is None else Decimal(int(nanos)).scaleb(-9)


def gpu_hours(ms: int) -> Decimal:
    return (Decimal(int(ms)) / MS_PER_HOUR).quantize(HOURS, ROUND_HALF_EVEN)


def standard_rates(
    cursor: duckdb.DuckDBPyConnection,
    provider: str,
    model: str,
    at: dt.datetime,
    what: str = "model",
) -> Rates:
    """The standard-tier base rates of `provider/model` in effect at `at` (the price book's
    catalog and overrides, as token pricing uses them)."""
    _, periods = current_book(cursor).resolve(provider, model)
    naive = at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo else at

    def holds(period: Period) -> bool:
        return (
            (period.effective_from is None or period.effective_from <= naive)
            and (period.effective_to is None or naive < period.effective_to)
            and period.min_input_tokens == 0
            and period.time_of_day_from is None
            and period.service_tier is None  # the standard tier, not flex or batch
        )

    found = [period for period in periods if holds(period)]
    if not found:
        raise GpuQueryError(f"no price for {what} {provider}/{model}")
    return found[-1].rates


def reference_prices(
    cursor: duckdb.DuckDBPyConnection, provider: str, model: str, at: dt.datetime
) -> Reference:
    """The base input and output prices of `provider/model` in effect at `at`."""
    rates = standard_rates(cursor, provider, model, at, "reference model")
    return Reference(provider, model, rates.input_mtok, rates.output_mtok)


def efficiency_rows(
    cursor: duckdb.DuckDBPyConnection,
    start: dt.datetime,
    end: dt.datetime,
    grain: Grain | None,
    deployment: str | None,
) -> list[dict[str, Any]]:
    """Per deployment (and hour or day): the summed GPU and token figures."""
    period = f"date_trunc('{grain}', hour)" if grain else "NULL::TIMESTAMP"
    result = cursor.execute(
        f"""
        SELECT {period} AS period, deployment,
               max(gpus) AS gpus, sum(gpu_ms) AS gpu_ms, sum(busy_ms) AS busy_ms,
               sum(unpriced_gpu_ms) AS unpriced_gpu_ms,
               sum(cost_nanos)::BIGINT AS cost_nanos,
               sum(idle_cost_nanos)::BIGINT AS idle_cost_nanos,
               sum(prompt_tokens)::BIGINT AS prompt_tokens,
               sum(generation_tokens)::BIGINT AS generation_tokens,
               avg(requests_running) AS requests_running,
               avg(requests_waiting) AS requests_waiting,
               avg(kv_cache_usage) AS kv_cache_usage
        FROM gpu_deployment_hourly
        WHERE hour >= $start AND hour < $end
          AND ($deployment IS NULL OR deployment = $deployment)
        GROUP BY ALL
        ORDER BY period NULLS FIRST, deployment NULLS LAST
        """,
        {"start": _naive(start), "end": _naive(end), "deployment": deployment},
    )
    return dicts(result)


def allocation_rows(
    cursor: duckdb.DuckDBPyConnection,
    scope: TenantScope,
    start: dt.datetime,
    end: dt.datetime,
    group_by: tuple[str, ...],
) -> list[dict[str, Any]]:
    """The GPU cost allocated to calls, grouped; only the calls the scope may read."""
    unknown = [name for name in group_by if name not in ALLOCATION_DIMENSIONS]
    if unknown:
        raise GpuQueryError(f"cannot group by {', '.join(unknown)}")
    dimensions = allocation_dimensions(group_by)
    selects = ", ".join(f"{ALLOCATION_DIMENSIONS[name]} AS {name}" for name in dimensions)
    result = cursor.execute(
        f"""
        SELECT {selects}, count(*) AS calls,
               sum(g.cost_nanos)::BIGINT AS cost_nanos,
               sum(g.idle_cost_nanos)::BIGINT AS idle_cost_nanos,
               sum(coalesce(s.input_tokens, 0))::BIGINT AS input_tokens,
               sum(coalesce(s.output_tokens, 0))::BIGINT AS output_tokens
        FROM gpu_call_costs g
        JOIN model_calls m ON m.trace_id = g.trace_id AND m.span_id = g.span_id
        JOIN spans s ON s.trace_id = g.trace_id AND s.span_id = g.span_id
        WHERE g.hour >= $start AND g.hour < $end
          AND m.start_time >= $start AND s.start_time >= $start
          AND {scope.where("m.tenant_id")}
        GROUP BY ALL
        ORDER BY cost_nanos DESC, {", ".join(f"{name} NULLS LAST" for name in dimensions)}
        """,
        {"start": _naive(start), "end": _naive(end)} | scope.params(),
    )
    return dicts(result)


def deployment_totals(
    cursor: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """Per deployment: its GPU cost and idle cost, and how much of each reached calls."""
    result = cursor.execute(
        """
        WITH cost AS (
            SELECT deployment, sum(cost_nanos)::BIGINT AS cost_nanos,
                   sum(idle_cost_nanos)::BIGINT AS idle_cost_nanos,
                   sum(unpriced_gpu_ms)::BIGINT AS unpriced_gpu_ms
            FROM gpu_deployment_hourly
            WHERE hour >= $start AND hour < $end GROUP BY deployment
        ), allocated AS (
            SELECT deployment, count(*) AS calls, sum(cost_nanos)::BIGINT AS cost_nanos,
                   sum(idle_cost_nanos)::BIGINT AS idle_cost_nanos
            FROM gpu_call_costs
            WHERE hour >= $start AND hour < $end GROUP BY deployment
        )
        SELECT c.deployment, c.cost_nanos, c.idle_cost_nanos, c.unpriced_gpu_ms,
               coalesce(a.calls, 0) AS calls,
               coalesce(a.cost_nanos, 0) AS allocated_nanos,
               coalesce(a.idle_cost_nanos, 0) AS allocated_idle_nanos
        FROM cost c LEFT JOIN allocated a ON a.deployment IS NOT DISTINCT FROM c.deployment
        ORDER BY c.cost_nanos DESC, c.deployment NULLS LAST
        """,
        {"start": _naive(start), "end": _naive(end)},
    )
    return dicts(result)


def per_million(cost: Decimal, tokens: int) -> Decimal | None:
    if not tokens:
        return None
    return (cost * 1_000_000 / tokens).quantize(NANO, ROUND_HALF_EVEN)


def reference_cost(reference: Reference, prompt: int, generation: int) -> Decimal:
    return (
        (prompt * reference.input_mtok + generation * reference.output_mtok) / 1_000_000
    ).quantize(NANO, ROUND_HALF_EVEN)


def _naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
