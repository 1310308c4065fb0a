"""Sessions per tenant: a session is a (tenant, session id), not a session id alone.

The rollups summed every call of a session id into one `rollup_sessions` row under the
tenant of its first call, so two tenants that both used `sess-42` shared one session (and
its cost, tokens and user). The rollups job now keeps one row per (tenant, session id); the
existing rows are rebuilt so from `rollup_traces`, which was already per tenant. Calls
without a tenant are a tenant of their own (one group, as SQL groups NULL).

The runaway detector's series becomes `session:tenant=<tenant>:<session id>` (the tenant
with `%` and `:` escaped, '' for none), so each tenant's session has its own incidents:
the runaway signals and incidents, and the mutes a tenant made, are renamed so, from the
tenant they were recorded with. An unscoped mute of `session:<id>` is left as it is: it
named the id in every tenant, which no one series does any more.

Downgrading merges the sessions back by id (the first call's feature, user and tenant) and
gives the series back their old names.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

SUMS = """
    sum(calls), sum(unpriced_calls), sum(error_calls), sum(input_tokens), sum(output_tokens),
    sum(cache_read_tokens), sum(cache_write_tokens), sum(reasoning_tokens), sum(cost_usd),
    sum(reported_cost_usd), sum(cache_savings_usd), min(first_call_at), max(last_call_at)
"""


def _sessions(tenant: str, group_by: str) -> str:
    return f"""
        INSERT INTO rollup_sessions
        SELECT session_id,
               arg_min(feature, first_call_at), arg_min(user_id, first_call_at), {tenant},
               arg_min(environment, first_call_at), count(DISTINCT trace_id), {SUMS}
        FROM rollup_traces
        WHERE session_id IS NOT NULL
        GROUP BY {group_by}
    """


TENANT_KEY = "replace(replace(coalesce(tenant_id, ''), '%', '%25'), ':', '%3A')"
NEW_SERIES = f"'session:tenant=' || {TENANT_KEY} || ':' || substr(series, length('session:') + 1)"
# 'session:tenant=<tenant>:<id>' -> 'session:<id>': the id follows the tenant's first ':'.
_REST = "substr(series, length('session:tenant=') + 1)"
OLD_SERIES = f"'session:' || substr({_REST}, strpos({_REST}, ':') + 1)"
RUNAWAY = "kind = 'runaway_session'"
TENANT_MUTE = "tenant_id IS NOT NULL"


def _rename(series: str, prefix: str) -> None:
    for table, which in (
        ("alert_signals", RUNAWAY),
        ("alert_incidents", RUNAWAY),
        ("alert_mutes", TENANT_MUTE),
    ):
        op.execute(
            f"UPDATE {table} SET series = {series}"
            f" WHERE {which} AND starts_with(series, '{prefix}')"
        )


def upgrade() -> None:
    op.execute("DELETE FROM rollup_sessions")
    op.execute(_sessions("tenant_id", "tenant_id, session_id"))
    _rename(NEW_SERIES, "session:")


def downgrade() -> None:
    op.execute("DELETE FROM rollup_sessions")
    op.execute(_sessions("arg_min(tenant_id, first_call_at)", "session_id"))
    _rename(OLD_SERIES, "session:tenant=")
