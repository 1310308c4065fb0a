"""Runaway sessions: agent sessions burning money far beyond their feature's peers, looping
on the same call, or over their budget; checked every few seconds on freshly priced calls.

A run (every `SPENDSCOPE_RUNAWAY_INTERVAL_SECONDS`) takes the sessions that made a model
call in the last `active_seconds` and sums each one's priced calls of the last
`lookback_hours` (model_calls x call_costs x spans: the pricing job's output, not the
rollups, so nothing waits for another job). A session fires when:

- peers: its calls, spend or call rate (calls per minute) is at least `peer_factor` x the
  median of its feature's sessions of the last `peer_days` (from `rollup_sessions`, at
  least `min_peers` of them, of every tenant: a feature is the product's) and
  `peer_score` robust z above it (log space, median / MAD), with at least `min_spend_usd`
  spent;
- loop: one call signature (model, span name, input and output tokens: the same request
  again) repeats at least `loop_repeats` times, with at least `loop_min_spend_usd` spent;
- budget: its spend reaches its feature's per-session budget, else the global one.

A session is a (tenant, session id): two tenants that both use `sess-42` are two sessions,
each measured, signalled and alerted as its tenant's (calls without a tenant are a tenant of
their own, keyed as '' here). It keeps firing on every run while it stays active, as the
series `session:tenant=<tenant>:<session id>` (`series_key`), so the alert resolves once the
session stops. impact_usd: the spend so far plus `impact_minutes` more at its current rate.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import duckdb

from warehouse.detection.config import RunawayConfig, load_runaway_config
from warehouse.detection.signals import Signal, record_signals

NAME = "runaway"
MIN_LOG_SCALE = 0.1  # floor of the peers' log-space spread (about 10 %)

SESSIONS = """
WITH active AS (
    SELECT DISTINCT coalesce(tenant_id, '') AS tenant_key, session_id FROM model_calls
    WHERE start_time >= $active_since AND start_time <= $now AND session_id IS NOT NULL
),
calls AS (
    SELECT coalesce(m.tenant_id, '') AS tenant_key, m.session_id, m.feature, m.user_id,
           m.tenant_id, m.start_time, c.cost_usd, c.model, s.name, s.input_tokens,
           s.output_tokens
    FROM model_calls m
    JOIN call_costs c
        ON c.trace_id = m.trace_id AND c.span_id = m.span_id AND c.start_time = m.start_time
    JOIN spans s
        ON s.trace_id = m.trace_id AND s.span_id = m.span_id AND s.start_time = m.start_time
    WHERE (coalesce(m.tenant_id, ''), m.session_id)
          IN (SELECT (tenant_key, session_id) FROM active)
      AND m.start_time >= $since AND m.start_time <= $now
      AND c.start_time >= $since AND s.start_time >= $since
),
loops AS (
    SELECT tenant_key, session_id, max(repeats) AS repeats,
           arg_max(signature, repeats) AS signature
    FROM (
        SELECT tenant_key, session_id, model || ' ' || name || ' in=' || coalesce(input_tokens, 0)
                   || ' out=' || coalesce(output_tokens, 0) AS signature,
               count(*) AS repeats
        FROM calls GROUP BY ALL
    )
    GROUP BY tenant_key, session_id
),
sessions AS (
    SELECT tenant_key, session_id,
           arg_min(feature, start_time) AS feature, arg_min(user_id, start_time) AS user_id,
           any_value(tenant_id) AS tenant_id,
           count(*) AS calls, coalesce(sum(cost_usd), 0) AS spend,
           min(start_time) AS first_at, max(start_time) AS last_at
    FROM calls GROUP BY tenant_key, session_id
),
measured AS (
    SELECT *,
           greatest(epoch(last_at - first_at) / 60, 1) AS minutes,
           calls / greatest(epoch(last_at - first_at) / 60, 1) AS call_rate,
           spend / greatest(epoch(last_at - first_at) / 60, 1)::DECIMAL(18, 6) AS spend_rate
    FROM sessions
),
peer_sessions AS (
    SELECT feature, ln(greatest(calls, 1)) AS calls,
           ln(greatest(cost_usd::DOUBLE, 1e-9)) AS spend,
           ln(calls / greatest(epoch(last_call_at - first_call_at) / 60, 1)) AS call_rate
    FROM rollup_sessions
    WHERE last_call_at >= $peer_since
),
peer_medians AS (
    SELECT feature, count(*) AS peers, median(calls) AS calls, median(spend) AS spend,
           median(call_rate) AS call_rate
    FROM peer_sessions GROUP BY feature
),
peers AS (
    SELECT m.*,
           median(abs(p.calls - m.calls)) AS calls_mad,
           median(abs(p.spend - m.spend)) AS spend_mad,
           median(abs(p.call_rate - m.call_rate)) AS call_rate_mad
    FROM peer_sessions p JOIN peer_medians m ON p.feature IS NOT DISTINCT FROM m.feature
    GROUP BY ALL
)
SELECT s.session_id, s.feature, s.user_id, s.tenant_id, s.calls, s.spend, s.first_at,
       s.last_at, s.minutes, s.call_rate, s.spend_rate, l.repeats, l.signature,
       coalesce(p.peers, 0) AS peers, exp(p.calls) AS peer_calls,
       exp(p.spend) AS peer_spend, exp(p.call_rate) AS peer_call_rate,
       (ln(greatest(s.calls, 1)) - p.calls) / greatest(1.4826 * p.calls_mad, $min_scale)
           AS calls_z,
       (ln(greatest(s.spend::DOUBLE, 1e-9)) - p.spend)
           / greatest(1.4826 * p.spend_mad, $min_scale) AS spend_z,
       (ln(s.call_rate) - p.call_rate) / greatest(1.4826 * p.call_rate_mad, $min_scale)
           AS call_rate_z
FROM measured s
JOIN loops l USING (tenant_key, session_id)
LEFT JOIN peers p ON p.feature IS NOT DISTINCT FROM s.feature
ORDER BY s.tenant_key, s.session_id
"""

MEASURES = ("calls", "spend", "call_rate")


def series_key(tenant_id: str | None, session_id: str) -> str:
    """The alert series of a session: its tenant ('' for none) with `%` and `:` escaped, so
    the tenant ends at the first `:` after `tenant=` and the session id is the rest."""
    tenant = (tenant_id or "").replace("%", "%25").replace(":", "%3A")
    return f"session:tenant={tenant}:{session_id}"


def active_sessions(
    cursor: duckdb.DuckDBPyConnection, now: dt.datetime, config: RunawayConfig
) -> list[dict[str, Any]]:
    """Every active session with its figures and its feature's peers."""
    now = now.replace(tzinfo=None)
    result = cursor.execute(
        SESSIONS,
        {
            "now": now,
            "active_since": now - dt.timedelta(seconds=config.active_seconds),
            "since": now - dt.timedelta(hours=config.lookback_hours),
            "peer_since": now - dt.timedelta(days=config.peer_days),
            "min_scale": MIN_LOG_SCALE,
        },
    )
    columns = [d[0] for d in result.description or ()]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def reasons(session: dict[str, Any], config: RunawayConfig) -> list[dict[str, Any]]:
    """Why a session is a runaway (empty: it is not)."""
    found: list[dict[str, Any]] = []
    spend: Decimal = session["spend"]
    if session["peers"] >= config.min_peers and spend >= config.min_spend_usd:
        for measure in MEASURES:
            value, usual = float(session[measure]), session[f"peer_{measure}"]
            z = session[f"{measure}_z"]
            if usual and value >= config.peer_factor * usual and z >= config.peer_score:
                found.append(
                    {
                        "reason": "peers",
                        "measure": measure,
                        "value": round(value, 6),
                        "peer_median": round(usual, 6),
                        "times": round(value / usual, 1),
                        "score": round(z, 2),
                    }
                )
    if session["repeats"] >= config.loop_repeats and spend >= config.loop_min_spend_usd:
        found.append(
            {"reason": "loop", "repeats": session["repeats"], "signature": session["signature"]}
        )
    budget = config.feature_session_budgets.get(session["feature"] or "")
    budget = budget if budget is not None else config.session_budget_usd
    if budget is not None and spend >= budget:
        found.append({"reason": "budget", "budget_usd": str(budget)})
    return found


def _signal(
    session: dict[str, Any], found: list[dict[str, Any]], config: RunawayConfig, now: dt.datetime
) -> Signal:
    spend: Decimal = session["spend"]
    rate = Decimal(session["spend_rate"])
    scores = [r["score"] for r in found if "score" in r]
    budget = next((Decimal(r["budget_usd"]) for r in found if r["reason"] == "budget"), None)
    expected = (
        budget if budget is not None else Decimal(repr(round(session["peer_spend"] or 0.0, 6)))
    )
    why = []
    for r in found:
        if r["reason"] == "peers":
            why.append(f"{r['measure'].replace('_', ' ')} {r['times']}x its peers")
        elif r["reason"] == "loop":
            why.append(f"the same call {r['repeats']} times")
        else:
            why.append(f"over its ${r['budget_usd']} budget")
    title = (
        f"Runaway session {session['session_id']} ({session['feature'] or 'no feature'}, "
        f"user {session['user_id'] or 'unknown'}, tenant {session['tenant_id'] or 'none'}): "
        f"${spend:,.2f} so far at ${rate:,.4f}/min, {session['calls']} calls; " + ", ".join(why)
    )
    return Signal(
        kind="runaway_session",
        series=series_key(session["tenant_id"], session["session_id"]),
        direction="up",
        detected_at=now.replace(tzinfo=None),
        window_start=session["first_at"],
        window_end=session["last_at"],
        actual_usd=spend,
        expected_usd=expected,
        impact_usd=spend + rate * config.impact_minutes,
        score=max(scores) if scores else float(spend / budget) if budget else 0.0,
        title=title,
        tenant_id=session["tenant_id"],
        details={
            "session_id": session["session_id"],
            "feature": session["feature"],
            "user_id": session["user_id"],
            "tenant_id": session["tenant_id"],
            "calls": session["calls"],
            "spend_usd": str(spend),
            "spend_per_minute_usd": str(rate),
            "calls_per_minute": round(session["call_rate"], 3),
            "first_call_at": session["first_at"].isoformat(),
            "last_call_at": session["last_at"].isoformat(),
            "peers": session["peers"],
            "reasons": found,
        },
    )


def detect(
    cursor: duckdb.DuckDBPyConnection, now: dt.datetime, config: RunawayConfig
) -> list[Signal]:
    signals = []
    for session in active_sessions(cursor, now, config):
        found = reasons(session, config)
        if found:
            signals.append(_signal(session, found, config, now))
    return signals


def run(cursor: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
    """The runaway job (housekeeping: it evaluates now, not new batches)."""
    return record_signals(cursor, detect(cursor, now, load_runaway_config(cursor)))
