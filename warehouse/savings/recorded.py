"""The recorded calls a what-if replays: the model calls of a window in the caller's tenant
scope, staged as a temp table with what pricing needs (`TARGET_COLUMNS`) and what the
what-ifs select on.

Besides the token counts, each call carries its attribution (feature, tenant, session), its
recorded cost (`call_costs`: NULL while unpriced; `price_source` 'gpu' for self-hosted calls,
whose cost is a GPU share rather than token prices), whether it failed (span status ERROR),
whether its trace used tools (a span with `gen_ai.operation.name` `execute_tool`), and
whether its trace is marked non-interactive: a span of the trace (or its resource) carries
the attribute `spendscope.interactive` = false (docs/savings.md), set where the code knows
nobody waits (a scheduled job's root span, a batch worker's resource), as
`spendscope.feature` is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from warehouse.core.clock import naive_utc, utc
from warehouse.pricing.calls import TARGET_COLUMNS
from warehouse.savings.interval import history_days
from warehouse.store.scope import TenantScope

CALLS_TABLE = "savings_calls"
# Calls another model could serve: not embeddings (a chat model does not replace them).
MOVABLE = "coalesce(operation, '') NOT IN ('embeddings', 'embedding')"
INTERACTIVE_ATTRIBUTE = "spendscope.interactive"
# A trace's spans start within this of its model calls (tool and marker spans are looked
# for in the window widened by it, so the scan of `spans` can skip by start time).
TRACE_SLACK = dt.timedelta(days=1)

STAGE = f"""
CREATE OR REPLACE TEMP TABLE {CALLS_TABLE} AS
WITH
    tools AS (
        SELECT DISTINCT trace_id FROM spans
        WHERE operation = 'execute_tool' AND start_time >= $near_start AND start_time < $near_end
    ),
    marked AS (
        SELECT DISTINCT trace_id FROM spans
        WHERE start_time >= $near_start AND start_time < $near_end
          AND (
              (attributes LIKE '%spendscope.interactive%'
               AND lower(json_extract_string(attributes, '$."spendscope.interactive"'))
                   IN ('false', '0'))
              OR (resource_attributes LIKE '%spendscope.interactive%'
                  AND lower(json_extract_string(
                      resource_attributes, '$."spendscope.interactive"')) IN ('false', '0'))
          )
    )
SELECT {{columns}},
       m.feature, m.tenant_id, m.session_id, s.operation,
       s.status_code = 2 AS failed,
       c.priced, c.cost_usd AS recorded_cost_usd, coalesce(c.price_source, '') AS price_source,
       t.trace_id IS NOT NULL AS uses_tools,
       k.trace_id IS NOT NULL AS non_interactive
FROM model_calls m
JOIN spans s USING (trace_id, span_id)
JOIN call_costs c USING (trace_id, span_id)
LEFT JOIN tools t ON t.trace_id = m.trace_id
LEFT JOIN marked k ON k.trace_id = m.trace_id
WHERE m.start_time >= $start AND m.start_time < $end
  AND s.start_time >= $start AND s.start_time < $end
  AND ($feature IS NULL OR m.feature = $feature)
  AND ($tenant IS NULL OR m.tenant_id = $tenant)
  AND {{scope}}
"""


@dataclass(frozen=True)
class Selection:
    """Which recorded calls: a window [start, end) (UTC), optionally one feature and/or one
    tenant, always within the caller's tenant scope. `now`, when given, ends the history
    the daily figures average over if the window reaches past it."""

    start: dt.datetime
    end: dt.datetime
    scope: TenantScope
    feature: str | None = None
    tenant: str | None = None
    now: dt.datetime | None = None

    @property
    def history_end(self) -> dt.datetime:
        return self.end if self.now is None else min(self.end, self.now)


def stage_calls(cursor: duckdb.DuckDBPyConnection, selection: Selection) -> int:
    """Stage the selected calls as the temp table `CALLS_TABLE`; returns how many."""
    start, end = naive_utc(selection.start), naive_utc(selection.end)
    sql = STAGE.format(columns=TARGET_COLUMNS, scope=selection.scope.where("m.tenant_id"))
    cursor.execute(
        sql,
        {
            "start": start,
            "end": end,
            "near_start": start - TRACE_SLACK,
            "near_end": end + TRACE_SLACK,
            "feature": selection.feature,
            "tenant": selection.tenant,
            **selection.scope.params(),
        },
    )
    row = cursor.execute(f"SELECT count(*) FROM {CALLS_TABLE}").fetchone()
    return int(row[0]) if row else 0


def history(cursor: duckdb.DuckDBPyConnection, selection: Selection) -> tuple[dt.datetime, int]:
    """The end of the history the daily figures average over, and its whole days: from the
    first call of the scope (any feature, any tenant the selection allows) in the window."""
    scope = selection.scope.where("m.tenant_id")
    row = cursor.execute(
        "SELECT min(m.start_time) FROM model_calls m "
        f"WHERE m.start_time >= $start AND m.start_time < $end AND {scope}",
        {
            "start": naive_utc(selection.start),
            "end": naive_utc(selection.end),
            **selection.scope.params(),
        },
    ).fetchone()
    end = selection.history_end
    return end, history_days(utc(row[0]) if row else None, end)
