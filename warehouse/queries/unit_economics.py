"""Unit economics per feature: cost per value unit, per successful session, per session
and per 1,000 requests, from the rollups and the resolved outcomes.

Over a window [start, end): `cost_usd`, `calls` are every call of the feature in the window
(failed and abandoned sessions and retries included; whole hours); `sessions` are the
sessions whose first call is in the window, under the feature of that call; `value_units`
are the feature's value-unit outcomes that occurred in the window (`value_unit_totals`:
an outcome reported hours later counts in the window it occurred in); `successful_sessions`
are the window's sessions that reached their feature's value unit, whenever (a session that
succeeds after the window closes still succeeded). A ratio whose denominator is zero is
None, never an error. Beside the cost, the p50 / p95 latency and time to first token of the
feature's successful calls (`warehouse.queries.latency`): the trade-off a routing decision
needs.

Unpriced calls: `cost_usd` is the priced calls' cost, None when the feature has calls and
none is priced; `priced_calls` and `priced_share` (of calls) say how much it covers. Cost per
1,000 requests is over the priced calls; the other ratios divide the priced cost by every
session or value unit, so they are lower bounds while `priced_share` < 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, localcontext
from typing import Any

import duckdb

from warehouse.core.rows import fetch_dicts
from warehouse.queries.costs import (
    Window,
    align,
    coverage,
    known_cost,
    naive_utc,
    usage_source,
)
from warehouse.queries.latency import NONE as NO_LATENCY
from warehouse.queries.latency import latency
from warehouse.queries.outcomes import RESOLVED_OUTCOMES, value_unit_totals
from warehouse.store.scope import TenantScope

COST_QUANTUM = Decimal(1).scaleb(-24)  # costs are DECIMAL(38, 24)
RATIOS = (
    "cost_per_value_unit_usd",
    "cost_per_successful_session_usd",
    "cost_per_session_usd",
    "cost_per_1k_requests_usd",
)

FEATURE_USAGE = """
SELECT feature, sum(calls) AS calls, sum(unpriced_calls) AS unpriced_calls,
       sum(error_calls) AS error_calls, sum(cost_usd) AS cost_usd
FROM ({source}) r
WHERE {scope}
GROUP BY feature
"""

# Sessions whose first call is in the window, per feature (the session's first call's), and
# those of them with a value-unit outcome of that feature not marked failed, whenever it
# occurred: a session that succeeds after the window closes still succeeded. A session is a
# (tenant, session id), and an outcome counts for the session of its own tenant only.
FEATURE_SESSIONS = f"""
WITH
    cohort AS (
        SELECT coalesce(tenant_id, '') AS tenant_key, session_id, feature FROM rollup_sessions
        WHERE first_call_at >= $start AND first_call_at < $end AND {{scope}}
    ),
    config AS (SELECT unnest($features) AS feature, unnest($outcomes) AS outcome),
    succeeded AS (
        SELECT DISTINCT c.tenant_key, c.session_id
        FROM ({RESOLVED_OUTCOMES}) r
        JOIN cohort c
            ON c.session_id = r.session_id AND c.tenant_key = coalesce(r.tenant_id, '')
        JOIN config g ON g.feature = c.feature AND g.outcome = r.name
        WHERE r.success IS DISTINCT FROM false
    )
SELECT c.feature, count(*) AS sessions, count(s.session_id) AS successful_sessions
FROM cohort c LEFT JOIN succeeded s USING (tenant_key, session_id)
GROUP BY c.feature
"""


def feature_usage(
    cursor: duckdb.DuckDBPyConnection, window: Window, scope: TenantScope
) -> dict[str | None, dict[str, Any]]:
    """Calls and cost per feature over the window (whole hours), every call included."""
    needed = ["feature"] if scope.unscoped else ["feature", "tenant_id"]
    source, params = usage_source(align(window, "hour"), needed, None)
    sql = FEATURE_USAGE.replace("{source}", source).replace("{scope}", scope.where("tenant_id"))
    rows = fetch_dicts(cursor, sql, params | scope.params())
    return {row.pop("feature"): row for row in rows}


def feature_sessions(
    cursor: duckdb.DuckDBPyConnection,
    window: Window,
    value_units: Mapping[str, str],
    scope: TenantScope,
) -> dict[str | None, dict[str, int]]:
    """Per feature: sessions that started in the window and, of those, the ones that reached
    the feature's value unit (`successful_sessions`)."""
    features: Sequence[str] = list(value_units) or [""]
    outcomes: Sequence[str] = list(value_units.values()) or [""]
    rows = fetch_dicts(
        cursor,
        FEATURE_SESSIONS.replace("{scope}", scope.where("tenant_id")),
        {
            "start": naive_utc(window.start),
            "end": naive_utc(window.end),
            "since": naive_utc(window.start),
            "until": None,
            "features": features,
            "outcomes": outcomes,
            **scope.params(),
        },
    )
    return {row.pop("feature"): row for row in rows}


def ratio(numerator: Decimal | int, denominator: Decimal | int | None) -> Decimal | None:
    """numerator / denominator to 24 decimal places (the precision costs are kept at);
    None when the denominator is zero or unknown."""
    if not denominator:
        return None
    with localcontext() as context:
        context.prec = 60
        return (Decimal(numerator) / Decimal(denominator)).quantize(COST_QUANTUM)


def unit_economics(
    cursor: duckdb.DuckDBPyConnection,
    window: Window,
    value_units: Mapping[str, str],
    scope: TenantScope,
) -> list[dict[str, Any]]:
    """Per feature (every feature with calls in the window, and every feature with a value
    unit configured): its cost (every call: failed and abandoned sessions and retries
    included), calls, sessions, value units and the ratios between them."""
    usage = feature_usage(cursor, window, scope)
    sessions = feature_sessions(cursor, window, value_units, scope)
    units = value_unit_totals(
        cursor, value_units, since=naive_utc(window.start), until=naive_utc(window.end), scope=scope
    )
    latencies = latency(cursor, window, scope, ("feature",))
    features = sorted(set(usage) | set(value_units), key=lambda f: (f is None, f or ""))
    result = []
    for feature in features:
        used = usage.get(feature, {})
        calls = int(used.get("calls") or 0)
        unpriced = int(used.get("unpriced_calls") or 0)
        cost = known_cost(Decimal(used.get("cost_usd") or 0), calls, unpriced)
        counted = sessions.get(feature, {})
        session_count = int(counted.get("sessions") or 0)
        unit = units.get(feature) if feature is not None else None
        successful = int(counted.get("successful_sessions") or 0) if unit else None
        value_count = int(unit["units"]) if unit else None
        covered = coverage(calls, unpriced)
        result.append(
            {
                "feature": feature,
                "cost_usd": cost,
                "calls": calls,
                "unpriced_calls": unpriced,
                **covered,
                "error_calls": int(used.get("error_calls") or 0),
                "sessions": session_count,
                "value_unit": unit["outcome"] if unit else None,
                "value_units": value_count,
                "failed_value_units": int(unit["failed"]) if unit else None,
                "successful_sessions": successful,
                "success_rate": successful / session_count
                if successful is not None and session_count
                else None,
                **_ratios(cost, covered["priced_calls"], session_count, successful, value_count),
                **latencies.get((feature,), NO_LATENCY),
            }
        )
    return result


def _ratios(
    cost: Decimal | None,
    priced_calls: int,
    sessions: int,
    successful: int | None,
    value_units: int | None,
) -> dict[str, Decimal | None]:
    """The cost ratios: None when the cost is unknown (no call priced) or the denominator
    zero. Per request over the priced calls only (their cost over their count); per value
    unit and per session the priced cost over all of them, a lower bound while some calls
    are unpriced (sessions and outcomes cannot be split by whether their calls are)."""
    if cost is None:
        return dict.fromkeys(RATIOS)
    return {
        "cost_per_value_unit_usd": ratio(cost, value_units),
        "cost_per_successful_session_usd": ratio(cost, successful),
        "cost_per_session_usd": ratio(cost, sessions),
        "cost_per_1k_requests_usd": ratio(cost * 1000, priced_calls),
    }
