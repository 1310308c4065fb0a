"""Finding things by id: the sessions, traces and users whose id is (or starts with) what
was typed, through the caller's tenant scope. All SQL here is parameterized; the only text
added is the scope's fixed condition.

Read from the rollups (`rollup_sessions`, `rollup_traces`, `rollup_users`): what the jobs
have rolled up, a few seconds behind ingest.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb

from warehouse.core.rows import fetch_dicts
from warehouse.store.scope import ALL_TENANTS, TenantScope

HEX = re.compile(r"[0-9a-f]{1,32}")
MIN_PREFIX = 3  # shorter text matches whole ids only

# Exact matches first, then by id; `$q` the text, `$prefix` whether a prefix may match.
SESSIONS = """
SELECT session_id, tenant_id, feature, user_id, environment, calls, unpriced_calls,
       cost_usd, first_call_at, last_call_at
FROM rollup_sessions
WHERE (session_id = $q OR ($prefix AND starts_with(session_id, $q))) AND {scope}
ORDER BY session_id <> $q, session_id, tenant_id NULLS FIRST LIMIT $limit
"""
TRACES = """
SELECT lower(hex(trace_id)) AS trace_id, session_id, tenant_id, feature, user_id,
       calls, unpriced_calls, cost_usd, first_call_at, last_call_at
FROM rollup_traces
WHERE starts_with(lower(hex(trace_id)), $q) AND (length($q) = 32 OR $prefix) AND {scope}
ORDER BY trace_id LIMIT $limit
"""
USERS = """
SELECT user_id, tenant_id, sum(calls)::BIGINT AS calls,
       sum(unpriced_calls)::BIGINT AS unpriced_calls, sum(cost_usd) AS cost_usd,
       min(first_call_at) AS first_call_at, max(last_call_at) AS last_call_at
FROM rollup_users
WHERE (user_id = $q OR ($prefix AND starts_with(user_id, $q))) AND {scope}
GROUP BY user_id, tenant_id
ORDER BY user_id <> $q, user_id, tenant_id NULLS FIRST LIMIT $limit
"""


def search_ids(
    cursor: duckdb.DuckDBPyConnection,
    text: str,
    scope: TenantScope = ALL_TENANTS,
    limit: int = 20,
) -> dict[str, list[dict[str, Any]]]:
    """The sessions, traces and users `text` names: a whole id, or the start of one when
    it has MIN_PREFIX characters or more (a trace id in hex)."""
    text = text.strip()
    params: dict[str, Any] = {
        "q": text,
        "prefix": len(text) >= MIN_PREFIX,
        "limit": limit,
        **scope.params(),
    }
    where = scope.where("tenant_id")
    found: dict[str, list[dict[str, Any]]] = {
        "sessions": fetch_dicts(cursor, SESSIONS.format(scope=where), params),
        "users": fetch_dicts(cursor, USERS.format(scope=where), params),
        "traces": [],
    }
    hex_text = text.lower()
    if HEX.fullmatch(hex_text):
        found["traces"] = fetch_dicts(cursor, TRACES.format(scope=where), params | {"q": hex_text})
    return found
