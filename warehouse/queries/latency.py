"""Latency beside cost: p50 / p95 latency and time to first token of the model calls, by
feature, provider and model (the dimensions of the cost rollups, so a latency row and a cost
row of the same group cover the same calls).

Latency is a model call's span duration (end - start, as the instrumentation measured it);
time to first token is `spans.time_to_first_token_ms` (streamed calls whose instrumentation
set it, `collector.ingest.latency`). Percentiles are exact (`quantile_cont`, interpolated)
over the calls that started in the window, widened to whole hours like the costs. Calls
whose span status is error are left out: a call that failed fast (or timed out) says nothing
about how long the model takes to answer; `error_calls` of the costs counts them. Read from
the call-level tables (a percentile cannot be summed from rollups) with explicit bounds on
`start_time`, over calls the pricing job has seen, as the rollups are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from warehouse.core.rows import fetch_dicts
from warehouse.pricing.calls import PRICED_CALLS_IN_WINDOW
from warehouse.queries.costs import CostQueryError, Window, align
from warehouse.store.scope import TenantScope

# API dimension name -> column of the joined call tables (as the rollups group them).
LATENCY_DIMENSIONS = {
    "feature": "m.feature",
    "provider": "c.provider",
    "model": "c.model",
    "tenant": "m.tenant_id",
    "environment": "m.environment",
}
MEASURES = (
    "latency_calls",
    "latency_p50_ms",
    "latency_p95_ms",
    "ttft_calls",
    "ttft_p50_ms",
    "ttft_p95_ms",
)
NONE = dict.fromkeys(MEASURES) | {"latency_calls": 0, "ttft_calls": 0}

LATENCY = """
SELECT {keys}count(*) AS latency_calls,
       quantile_cont(s.duration_ms, 0.5) AS latency_p50_ms,
       quantile_cont(s.duration_ms, 0.95) AS latency_p95_ms,
       count(s.time_to_first_token_ms) AS ttft_calls,
       quantile_cont(s.time_to_first_token_ms, 0.5) AS ttft_p50_ms,
       quantile_cont(s.time_to_first_token_ms, 0.95) AS ttft_p95_ms
{calls}
  AND s.status_code <> 2
  AND {where}
{group}
"""


def latency(
    cursor: duckdb.DuckDBPyConnection,
    window: Window,
    scope: TenantScope,
    group_by: Sequence[str],
    filters: Mapping[str, str] | None = None,
) -> dict[tuple[str | None, ...], dict[str, Any]]:
    """Per group of `group_by` values (a tuple in that order; `()` for all calls): how many
    calls were measured, their p50 / p95 latency and time to first token in milliseconds
    (None where no call has one). Groups without a successful call are absent."""
    unknown = (set(group_by) | set(filters or {})) - set(LATENCY_DIMENSIONS)
    if unknown:
        raise CostQueryError(f"latency is not kept by: {', '.join(sorted(unknown))}")
    hours = align(window, "hour")
    params: dict[str, Any] = {"start": hours.start, "end": hours.end, **scope.params()}
    where = [scope.where("m.tenant_id")]
    for n, (name, value) in enumerate(sorted((filters or {}).items())):
        where.append(f"{LATENCY_DIMENSIONS[name]} = $filter{n}")
        params[f"filter{n}"] = value
    keys = "".join(f"{LATENCY_DIMENSIONS[name]} AS {name}, " for name in group_by)
    group = "GROUP BY ALL" if group_by else ""
    sql = LATENCY.format(
        calls=PRICED_CALLS_IN_WINDOW, keys=keys, where=" AND ".join(where), group=group
    )
    result = {}
    for row in fetch_dicts(cursor, sql, params):
        if row["latency_calls"]:
            result[tuple(row.pop(name) for name in group_by)] = row
    return result
