"""Reading outcomes with their session, feature and tenant resolved.

An outcome declares what it knows (a span's trace and own session, a log record's
`session.id`, an API caller's session_id, trace_id or business key). The rest is resolved
when read, so it is right whatever order spans and outcomes arrived in:

1. its own trace: the dimensions the trace's model calls were attributed to (else the
   trace's spans' own values), earliest first;
2. its business key: the first link of that key, from a span that carried
   `spendscope.outcome.key` (`outcome_key_links`) or another outcome that reported the key
   together with a session or trace; then that link's trace, as in 1;
3. for the feature and tenant, the resolved session's model calls.

A session id and a business key mean something only within a tenant: two tenants may both
use `sess-42` or `order-1`. An outcome that declares its tenant (a span's or log record's
tenant attribute, the API's `tenant_id`) is resolved within that tenant only: its key's
links of that tenant (a link's tenant is its own, else its trace's), its session's calls
of that tenant. One that declares none takes its tenant from its trace; else a key or
session id held by one tenant only is that tenant's, and one held by several is the one of
calls without a tenant (a tenant of its own, keyed as '' here), if any: it is never
credited to a tenant it cannot be shown to belong to.

A declared value always wins. `RESOLVED_OUTCOMES` is the query for downstream jobs
(rollups, unit economics); it takes `$since`/`$until` bounds on `occurred_at` (NULL: open).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import duckdb

from warehouse.core.rows import fetch_dicts
from warehouse.store.scope import ALL_TENANTS, TenantScope

# Dimensions per trace and per session: attributed model calls first, spans' own values next.
_DIMENSION_ROWS = """
    SELECT trace_id, session_id, start_time, feature, tenant_id, 0 AS preference
    FROM model_calls
    UNION ALL
    SELECT trace_id, session_id, start_time, coalesce(feature, feature_default), tenant_id, 1
    FROM spans
"""


def _first(column: str) -> str:
    return (
        f"first({column} ORDER BY preference, start_time) FILTER (WHERE {column} IS NOT NULL)"
        f" AS {column}"
    )


RESOLVED_OUTCOMES = f"""
WITH
    o AS (
        SELECT * FROM outcomes
        WHERE ($since IS NULL OR occurred_at >= $since)
          AND ($until IS NULL OR occurred_at < $until)
    ),
    link_rows AS (
        SELECT business_key, trace_id, session_id, feature, tenant_id, linked_at
        FROM outcome_key_links SEMI JOIN o USING (business_key)
        UNION ALL
        SELECT business_key, trace_id, session_id, feature, tenant_id, occurred_at
        FROM outcomes SEMI JOIN o USING (business_key)
        WHERE trace_id IS NOT NULL OR session_id IS NOT NULL OR feature IS NOT NULL
    ),
    link_traces AS (
        SELECT trace_id, {_first("tenant_id")}
        FROM ({_DIMENSION_ROWS}) d SEMI JOIN link_rows USING (trace_id)
        GROUP BY trace_id
    ),
    key_links AS (
        SELECT l.business_key, coalesce(l.tenant_id, t.tenant_id, '') AS tenant_key,
            arg_min(l.trace_id, linked_at) FILTER (WHERE l.trace_id IS NOT NULL) AS trace_id,
            arg_min(session_id, linked_at) FILTER (WHERE session_id IS NOT NULL) AS session_id,
            arg_min(feature, linked_at) FILTER (WHERE feature IS NOT NULL) AS feature,
            count(*) OVER (PARTITION BY l.business_key) AS tenants
        FROM link_rows l LEFT JOIN link_traces t ON t.trace_id = l.trace_id
        GROUP BY l.business_key, tenant_key
    ),
    with_key AS (
        SELECT o.*, k.trace_id AS key_trace_id, k.session_id AS key_session_id,
               k.feature AS key_feature, nullif(k.tenant_key, '') AS key_tenant_id
        FROM o LEFT JOIN key_links k ON k.business_key = o.business_key
            AND (k.tenant_key = coalesce(o.tenant_id, '')
                 OR (o.tenant_id IS NULL AND k.tenants = 1))
    ),
    wanted_traces AS (
        SELECT trace_id FROM with_key WHERE trace_id IS NOT NULL
        UNION SELECT key_trace_id FROM with_key WHERE key_trace_id IS NOT NULL
    ),
    trace_dims AS (
        SELECT trace_id, {_first("session_id")}, {_first("feature")}, {_first("tenant_id")}
        FROM ({_DIMENSION_ROWS}) d SEMI JOIN wanted_traces USING (trace_id)
        GROUP BY trace_id
    ),
    with_trace AS (
        SELECT w.*,
            coalesce(w.trace_id, w.key_trace_id) AS resolved_trace_id,
            coalesce(w.session_id, own.session_id, w.key_session_id, via_key.session_id)
                AS resolved_session_id,
            CASE
                WHEN w.session_id IS NOT NULL THEN 'declared'
                WHEN own.session_id IS NOT NULL THEN 'trace'
                WHEN coalesce(w.key_session_id, via_key.session_id) IS NOT NULL THEN 'key'
            END AS session_from,
            coalesce(w.feature, own.feature, w.key_feature, via_key.feature) AS trace_feature,
            coalesce(w.tenant_id, own.tenant_id, w.key_tenant_id, via_key.tenant_id)
                AS trace_tenant_id
        FROM with_key w
        LEFT JOIN trace_dims own ON own.trace_id = w.trace_id
        LEFT JOIN trace_dims via_key ON via_key.trace_id = w.key_trace_id
    ),
    session_dims AS (
        SELECT session_id, coalesce(tenant_id, '') AS tenant_key, {_first("feature")}
        FROM ({_DIMENSION_ROWS}) d
        WHERE session_id IN (SELECT resolved_session_id FROM with_trace)
        GROUP BY session_id, tenant_key, preference
        QUALIFY preference = min(preference) OVER (PARTITION BY session_id)
    ),
    session_owners AS (
        SELECT session_id, any_value(tenant_key) AS tenant_key
        FROM session_dims GROUP BY session_id HAVING count(*) = 1
    )
SELECT
    t.outcome_id, t.seq, t.source, t.name, t.count, t.success, t.occurred_at, t.received_at,
    t.resolved_trace_id AS trace_id, t.span_id, t.resolved_session_id AS session_id,
    t.session_from, t.business_key, coalesce(t.trace_feature, s.feature) AS feature,
    coalesce(t.trace_tenant_id, nullif(s.tenant_key, '')) AS tenant_id, t.client_id,
    t.attributes
FROM with_trace t
LEFT JOIN session_owners u
    ON t.trace_tenant_id IS NULL AND u.session_id = t.resolved_session_id
LEFT JOIN session_dims s
    ON s.session_id = t.resolved_session_id
    AND s.tenant_key = coalesce(t.trace_tenant_id, u.tenant_key, '')
"""


def _naive(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def list_outcomes(
    cursor: duckdb.DuckDBPyConnection,
    *,
    session_id: str | None = None,
    trace_id: bytes | None = None,
    key: str | None = None,
    name: str | None = None,
    feature: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    tenant: str | None = None,
    limit: int = 1000,
    scope: TenantScope = ALL_TENANTS,
) -> list[dict[str, Any]]:
    """Resolved outcomes matching every filter given, in the order they occurred. `tenant`
    ('' for none) keeps one tenant's: with `session_id`, the outcomes of that session."""
    sql = f"SELECT * FROM ({RESOLVED_OUTCOMES}) r WHERE {scope.where('r.tenant_id')}"
    params: dict[str, Any] = {"since": _naive(since), "until": _naive(until), "limit": limit}
    params |= scope.params()
    if tenant is not None:
        sql += " AND coalesce(r.tenant_id, '') = $tenant"
        params["tenant"] = tenant
    filters = {"session_id": session_id, "trace_id": trace_id, "business_key": key}
    filters |= {"name": name, "feature": feature}
    for column, value in filters.items():
        if value is not None:
            sql += f" AND r.{column} = ${column}"
            params[column] = value
    sql += " ORDER BY r.occurred_at, r.outcome_id LIMIT $limit"
    return fetch_dicts(cursor, sql, params)


VALUE_UNITS = f"""
SELECT r.feature,
       coalesce(sum(r.count) FILTER (WHERE r.success IS DISTINCT FROM false), 0) AS units,
       coalesce(sum(r.count) FILTER (WHERE r.success = false), 0) AS failed,
       count(*) AS outcomes,
       count(DISTINCT (coalesce(r.tenant_id, ''), r.session_id))
           FILTER (WHERE r.session_id IS NOT NULL) AS sessions
FROM ({RESOLVED_OUTCOMES}) r
JOIN ({{config}}) c (feature, outcome) ON c.feature = r.feature AND c.outcome = r.name
WHERE {{scope}}
GROUP BY r.feature
"""


def value_unit_totals(
    cursor: duckdb.DuckDBPyConnection,
    value_units: Mapping[str, str],
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    scope: TenantScope = ALL_TENANTS,
) -> dict[str, dict[str, Any]]:
    """Per feature with a configured value unit (feature -> outcome name), over outcomes that
    occurred in [since, until): `units`, the count of its value-unit outcomes not marked
    failed; `failed`, those marked failed; `outcomes` (rows) and `sessions`."""
    totals: dict[str, dict[str, Any]] = {
        feature: {"outcome": outcome, "units": 0, "failed": 0, "outcomes": 0, "sessions": 0}
        for feature, outcome in value_units.items()
    }
    if not value_units:
        return totals
    params: dict[str, Any] = {"since": _naive(since), "until": _naive(until), **scope.params()}
    pairs = []
    for n, (feature, outcome) in enumerate(value_units.items()):
        pairs.append(f"($f{n}, $o{n})")
        params[f"f{n}"], params[f"o{n}"] = feature, outcome
    sql = VALUE_UNITS.replace("{config}", "VALUES " + ", ".join(pairs))
    sql = sql.replace("{scope}", scope.where("r.tenant_id"))
    for feature, units, failed, outcomes, sessions in cursor.execute(sql, params).fetchall():
        totals[feature].update(
            units=int(units), failed=int(failed), outcomes=outcomes, sessions=sessions
        )
    return totals
