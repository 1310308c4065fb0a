"""Read queries behind the API. All SQL here is parameterized."""

from __future__ import annotations

from typing import Any

import duckdb

from warehouse.core.errors import InvalidRequest
from warehouse.core.rows import fetch_dicts
from warehouse.store.scope import ALL_TENANTS, TenantScope

# A model call's dimensions: inherited ones once the attribution job has resolved its
# trace, its own until then (a just-acknowledged call is visible at once).
# Cost columns are NULL until the pricing job has priced the call. A span the attribution
# job has seen that has no row of its own in model_calls is a layer of another call (the
# same request seen by two instrumentations, docs/normalization.md): it is not listed.
MODEL_CALLS = """
SELECT
    lower(hex(s.trace_id)) AS trace_id,
    lower(hex(s.span_id)) AS span_id,
    lower(hex(s.parent_span_id)) AS parent_span_id,
    s.name, s.service, s.scope_name, s.provider, s.operation,
    s.request_model, s.response_model,
    s.input_tokens, s.output_tokens, s.cache_read_tokens, s.cache_write_tokens,
    s.reasoning_tokens, s.reported_cost_usd,
    coalesce(m.feature, s.feature, s.feature_default) AS feature,
    coalesce(m.session_id, s.session_id) AS session_id,
    coalesce(m.user_id, s.user_id) AS user_id,
    coalesce(m.tenant_id, s.tenant_id) AS tenant_id,
    coalesce(m.environment, s.environment) AS environment,
    coalesce(m.agent_name, s.agent_name) AS agent_name,
    m.span_id IS NOT NULL AS attributed,
    s.start_time, s.end_time, s.duration_ms, s.status_code, s.status_message,
    s.attributes,
    c.cost_usd, c.priced, c.unpriced_reason, c.price_source,
    c.override_id AS price_override_id, c.price_period_id, c.pricing_assumption
FROM spans s LEFT JOIN model_calls m USING (trace_id, span_id)
LEFT JOIN call_costs c ON c.trace_id = s.trace_id AND c.span_id = s.span_id
WHERE s.is_model_call
  AND (m.span_id IS NOT NULL OR s.batch_id > coalesce(
        (SELECT watermark FROM job_state WHERE name = 'attribution'), 0))
"""


class CallQueryError(InvalidRequest):
    """Model calls asked for without a trace or a session to narrow them to."""

    status_code = 400


def model_calls(
    cursor: duckdb.DuckDBPyConnection,
    *,
    trace_id: bytes | None = None,
    session_id: str | None = None,
    tenant: str | None = None,
    limit: int = 1000,
    scope: TenantScope = ALL_TENANTS,
) -> list[dict[str, Any]]:
    """Model calls of a trace and/or a session, oldest first (CallQueryError without
    either); `tenant` ('' for calls without one) narrows them to one tenant's, as a session
    id is only unique within its tenant."""
    if trace_id is None and session_id is None:
        raise CallQueryError("give trace_id, session_id or both")
    sql = MODEL_CALLS + f" AND {scope.where('coalesce(m.tenant_id, s.tenant_id)')}"
    params: dict[str, Any] = {"limit": limit, **scope.params()}
    if trace_id is not None:
        sql += " AND s.trace_id = $trace_id"
        params["trace_id"] = trace_id
    if session_id is not None:
        sql += " AND coalesce(m.session_id, s.session_id) = $session_id"
        params["session_id"] = session_id
    if tenant is not None:
        sql += " AND coalesce(m.tenant_id, s.tenant_id, '') = $tenant"
        params["tenant"] = tenant
    sql += " ORDER BY s.start_time, s.span_id LIMIT $limit"
    return fetch_dicts(cursor, sql, params)
