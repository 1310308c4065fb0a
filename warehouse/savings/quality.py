"""The quality evidence spendscope has for a model within a feature: from the recorded calls
(`warehouse.savings.recorded`), per (feature, provider, model), the calls and the share that
failed (span status ERROR), and the sessions with a call of that model and the share of them
that reached the feature's value unit (an outcome of the unit not marked failed, resolved to
its session as `warehouse.queries.outcomes` does, whenever it occurred after the window
began). Embedding calls are left out. A session that used two models counts for both:
this is evidence that a model served the feature, not a controlled comparison, and the
answer says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from warehouse.core.clock import naive_utc
from warehouse.core.rows import fetch_dicts
from warehouse.pricing.catalog import Catalog
from warehouse.queries.outcomes import RESOLVED_OUTCOMES
from warehouse.savings.recorded import CALLS_TABLE, MOVABLE

EVIDENCE = f"""
WITH
    config AS (SELECT unnest($features) AS feature, unnest($outcomes) AS outcome),
    succeeded AS (
        SELECT DISTINCT coalesce(tenant_id, '') AS tenant_key, session_id, name
        FROM ({RESOLVED_OUTCOMES}) r
        WHERE r.success IS DISTINCT FROM false AND r.session_id IS NOT NULL
    ),
    calls AS (
        SELECT coalesce(feature, '') AS feature_key, feature, provider, model,
               count(*) AS calls, count(*) FILTER (WHERE failed) AS error_calls
        FROM {CALLS_TABLE} WHERE {MOVABLE} GROUP BY ALL
    ),
    sessions AS (
        SELECT DISTINCT coalesce(feature, '') AS feature_key, provider, model,
               coalesce(tenant_id, '') AS tenant_key, session_id
        FROM {CALLS_TABLE} WHERE session_id IS NOT NULL AND {MOVABLE}
    ),
    reached AS (
        SELECT x.feature_key, x.provider, x.model, count(*) AS sessions,
               count(u.session_id) AS successful_sessions
        FROM sessions x
        LEFT JOIN config g ON g.feature = x.feature_key
        LEFT JOIN succeeded u
            ON u.tenant_key = x.tenant_key AND u.session_id = x.session_id
            AND u.name = g.outcome
        GROUP BY ALL
    )
SELECT c.feature, c.provider, c.model, c.calls, c.error_calls,
       coalesce(r.sessions, 0) AS sessions, r.successful_sessions
FROM calls c LEFT JOIN reached r USING (feature_key, provider, model)
ORDER BY c.feature, c.calls DESC, c.model
"""


@dataclass(frozen=True)
class ModelEvidence:
    """How one model did within one feature over the window."""

    feature: str | None
    provider: str
    model: str
    calls: int
    error_calls: int
    sessions: int
    value_unit: str | None  # None: the feature has no value unit configured
    successful_sessions: int | None  # None without a value unit

    @property
    def error_rate(self) -> float:
        return self.error_calls / self.calls if self.calls else 0.0

    @property
    def success_rate(self) -> float | None:
        if self.value_unit is None or self.successful_sessions is None or not self.sessions:
            return None
        return self.successful_sessions / self.sessions


def evidence(
    cursor: duckdb.DuckDBPyConnection, value_units: Mapping[str, str], since: dt.datetime
) -> list[ModelEvidence]:
    """Per feature and model of the staged calls: their errors and value-unit success."""
    rows = fetch_dicts(
        cursor,
        EVIDENCE,
        {
            "features": list(value_units) or [""],
            "outcomes": list(value_units.values()) or [""],
            "since": naive_utc(since),
            "until": None,
        },
    )
    found = []
    for row in rows:
        unit = value_units.get(row["feature"] or "")
        found.append(
            ModelEvidence(
                feature=row["feature"],
                provider=row["provider"],
                model=row["model"],
                calls=int(row["calls"]),
                error_calls=int(row["error_calls"]),
                sessions=int(row["sessions"]),
                value_unit=unit,
                successful_sessions=int(row["successful_sessions"] or 0) if unit else None,
            )
        )
    return found


def same_model(catalog: Catalog, a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Whether two (provider, model) keys name one model: equal, or the same catalog model
    (`gpt-4o-mini` and its snapshot `gpt-4o-mini-2024-07-18`)."""
    if a == b:
        return True
    if a[0] != b[0]:
        return False
    found = catalog.model_key(*a)
    return found is not None and found == catalog.model_key(*b)
