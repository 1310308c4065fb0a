"""What the detectors found: the signals of a time window, one row per (kind, series,
direction) with its latest figures, read through the caller's tenant scope.

A signal of one tenant's series carries its `tenant_id`; a tenant-scoped reader sees only
those. Series across tenants (a feature, a model, the total) have none and are visible to
unscoped readers only.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb

from warehouse.core.rows import fetch_dicts
from warehouse.store.scope import TenantScope

KINDS = ("spend_anomaly", "runaway_session", "budget", "reconciliation_gap")

LIST = """
WITH found AS (
    SELECT * FROM alert_signals
    WHERE detected_at >= $start AND detected_at < $end AND {kind} AND {scope}
),
grouped AS (
    SELECT kind, series, direction, max(id) AS id, min(detected_at) AS first_detected_at,
           count(*) AS signals, max(impact_usd) AS peak_impact_usd
    FROM found GROUP BY ALL
)
SELECT g.kind, g.series, g.direction, a.title, g.first_detected_at,
       a.detected_at AS last_detected_at, g.signals, a.window_start, a.window_end,
       a.actual_usd, a.expected_usd, a.impact_usd, g.peak_impact_usd, a.score, a.tenant_id,
       a.details
FROM grouped g JOIN alert_signals a ON a.id = g.id
ORDER BY a.detected_at DESC, a.impact_usd DESC, g.series
LIMIT $limit
"""


def list_anomalies(
    cursor: duckdb.DuckDBPyConnection,
    scope: TenantScope,
    start: dt.datetime,
    end: dt.datetime,
    *,
    kind: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The series that fired in [start, end) (naive UTC), the latest first."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    sql = LIST.format(kind="kind = $kind" if kind else "TRUE", scope=scope.where("tenant_id"))
    params: dict[str, Any] = {"start": start, "end": end, "limit": limit} | scope.params()
    if kind:
        params["kind"] = kind
    rows = fetch_dicts(cursor, sql, params)
    for row in rows:
        row["details"] = json.loads(row["details"])
    return rows
