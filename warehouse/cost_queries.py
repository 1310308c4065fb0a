"""Cost queries behind the API: costs by dimension and time, top sessions, unit economics.

They read the rollups (`warehouse.rollups`), never the call-level tables, so they answer in
milliseconds over months of calls. Every query takes a `TenantScope`. All SQL is
parameterized; the only identifiers spliced in come from the fixed maps below.

Time windows are half-open, [start, end). `rollup_hourly` answers at hour granularity and
`rollup_users` at day granularity, so a window is widened to whole hours (days): `align`
says which window a query really covered, and the API returns it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any, Literal

import duckdb

from warehouse.outcome_queries import RESOLVED_OUTCOMES, value_unit_totals
from warehouse.scope import TenantScope

# API dimension name -> column of rollup_hourly.
HOURLY_DIMENSIONS = {
    "feature": "feature",
    "provider": "provider",
    "model": "model",
    "tenant": "tenant_id",
    "environment": "environment",
    "agent": "agent_name",
}
# API dimension name -> column of rollup_users (per user and day).
USER_DIMENSIONS = {"user": "user_id", "tenant": "tenant_id"}
DIMENSIONS = (*HOURLY_DIMENSIONS, "user")
Grain = Literal["hour", "day", "month"]
GRAINS: tuple[Grain, ...] = ("hour", "day", "month")
COST_QUANTUM = Decimal(1).scaleb(-24)  # costs are DECIMAL(38, 24)

# The measures every rollup row carries, summed.
MEASURES = (
    "calls",
    "unpriced_calls",
    "error_calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "reported_cost_usd",
    "cache_savings_usd",
)
_SUMS = ", ".join(f"sum({m}) AS {m}" for m in MEASURES)
# Sums of an empty set are NULL; totals read 0 (reported cost stays NULL: none was reported).
_ZERO = {m: 0 for m in MEASURES if m != "reported_cost_usd"}


class CostQueryError(ValueError):
    """A combination of parameters the rollups cannot answer; the message says why."""


@dataclass(frozen=True)
class Window:
    """[start, end) in naive UTC."""

    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class CostQuery:
    window: Window
    group_by: tuple[str, ...] = ()
    grain: Grain | None = None
    filters: Mapping[str, str] = field(default_factory=dict)
    limit: int = 10_000


@dataclass(frozen=True)
class CostResult:
    window: Window
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    truncated: bool


def _naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def align(window: Window, unit: Literal["hour", "day"]) -> Window:
    """The window widened to whole units: start floored, end ceiled."""
    step = dt.timedelta(days=1) if unit == "day" else dt.timedelta(hours=1)

    def floor(value: dt.datetime) -> dt.datetime:
        value = _naive(value).replace(minute=0, second=0, microsecond=0)
        return value.replace(hour=0) if unit == "day" else value

    start, end = floor(window.start), floor(window.end)
    return Window(start, end if end == _naive(window.end) else end + step)


def _table(query: CostQuery) -> str:
    """Which rollup can answer `query`: rollup_hourly (with rollup_daily) or rollup_users."""
    names = set(query.group_by) | set(query.filters)
    if unknown := names - set(DIMENSIONS):
        raise CostQueryError(f"unknown dimension(s): {', '.join(sorted(unknown))}")
    if "user" not in names:
        return "rollup_hourly"
    if other := names - set(USER_DIMENSIONS):
        raise CostQueryError(
            "per-user costs (group_by or filter `user`) combine only with `tenant`, not with "
            + ", ".join(sorted(other))
        )
    if query.grain == "hour":
        raise CostQueryError("per-user costs are kept per day: use grain day or month")
    return "rollup_users"


_MEASURE_COLUMNS = ", ".join(MEASURES)
# Whole days come from the smallest daily rollup that has every column a query needs.
DAILY_ROLLUPS = (
    ("rollup_feature_daily", ("feature", "tenant_id")),
    ("rollup_daily", tuple(HOURLY_DIMENSIONS.values())),
)


def usage_source(
    window: Window, columns: Sequence[str], grain: Grain | None
) -> tuple[str, dict[str, Any]]:
    """A subquery of the hourly rollup's measures in `window` (whole hours) by `columns`
    (and tenant_id), with each row's time as `t`: hours for grain `hour`; otherwise whole
    days from a daily rollup and the hours at either edge from rollup_hourly, all as days.
    Its parameters are prefixed `src_`."""
    needed = list(dict.fromkeys([*columns, "tenant_id"]))
    select = ", ".join([*needed, _MEASURE_COLUMNS])
    days = align(window, "day")
    first_day = days.start if days.start == window.start else days.start + dt.timedelta(days=1)
    last_day = days.end if days.end == window.end else days.end - dt.timedelta(days=1)
    params = {"src_start": window.start, "src_end": window.end}
    if grain == "hour" or first_day >= last_day:
        hour = "hour" if grain == "hour" else "date_trunc('day', hour)"
        sql = f"""
            SELECT {hour} AS t, {select} FROM rollup_hourly
            WHERE hour >= $src_start AND hour < $src_end
        """
        return sql, params
    daily = next(table for table, has in DAILY_ROLLUPS if set(needed) <= set(has))
    sql = f"""
        SELECT day::TIMESTAMP AS t, {select} FROM {daily}
        WHERE day >= $src_first_day AND day < $src_last_day
        UNION ALL
        SELECT date_trunc('day', hour) AS t, {select} FROM rollup_hourly
        WHERE (hour >= $src_start AND hour < $src_first_day)
           OR (hour >= $src_last_day AND hour < $src_end)
    """
    return sql, params | {"src_first_day": first_day, "src_last_day": last_day}


def _add(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The totals of grouped rows (exact: integers and Decimals)."""
    totals: dict[str, Any] = dict(_ZERO) | {"reported_cost_usd": None}
    for row in rows:
        for measure in MEASURES:
            if row[measure] is not None:
                totals[measure] = (totals[measure] or 0) + row[measure]
    return totals


def costs(cursor: duckdb.DuckDBPyConnection, query: CostQuery, scope: TenantScope) -> CostResult:
    """Cost and usage grouped by `query.group_by` dimensions and by `query.grain`, with the
    totals of every matching row (whatever the limit); rows by period, then cost."""
    if len(set(query.group_by)) != len(query.group_by):
        raise CostQueryError("a dimension is given twice in group_by")
    table = _table(query)
    if table == "rollup_users":
        window = align(query.window, "day")
        source = f"SELECT day::TIMESTAMP AS t, * FROM {table} WHERE day >= $start AND day < $end"
        params: dict[str, Any] = {"start": window.start.date(), "end": window.end.date()}
        columns = USER_DIMENSIONS
    else:
        window = align(query.window, "hour")
        columns = HOURLY_DIMENSIONS
        needed = [columns[name] for name in (*query.group_by, *query.filters)]
        source, params = usage_source(window, needed, query.grain)
    if window.end <= window.start:
        raise CostQueryError("end must be after start")

    keys: list[str] = []
    select: list[str] = []
    if query.grain is not None:
        period = "date_trunc('month', t)" if query.grain == "month" else "t"
        select.append(f"{period}::TIMESTAMP AS period")
        keys.append("period")
    for name in query.group_by:
        select.append(f"{columns[name]} AS {name}")
        keys.append(name)
    params |= scope.params()
    where = [scope.where("tenant_id")]
    for n, (name, value) in enumerate(sorted(query.filters.items())):
        where.append(f"{columns[name]} = $filter{n}")
        params[f"filter{n}"] = value

    sql = f"SELECT {', '.join([*select, _SUMS])} FROM ({source}) r WHERE {' AND '.join(where)}"
    if keys:
        order = [*(["period"] if query.grain else []), "cost_usd DESC"]
        order += [f"{k} NULLS FIRST" for k in keys if k != "period"]
        sql += f" GROUP BY ALL ORDER BY {', '.join(order)} LIMIT $limit"
        params["limit"] = query.limit + 1  # one more tells that there are more
    rows = _fetch(cursor, sql, params)
    if not keys:
        totals = _add(rows)  # one row, of NULL sums when nothing matched
        return CostResult(window, rows if totals["calls"] else [], totals, truncated=False)
    if len(rows) <= query.limit:
        return CostResult(window, rows, _add(rows), truncated=False)
    params.pop("limit")
    everything = _fetch(cursor, sql[: sql.index(" GROUP BY ALL")], params)
    return CostResult(window, rows[: query.limit], _add(everything), truncated=True)


# ---- sessions ----------------------------------------------------------------------------

SESSION_FILTERS = {
    "feature": "feature",
    "tenant": "tenant_id",
    "user": "user_id",
    "environment": "environment",
}


def _fetch(
    cursor: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    result = cursor.execute(sql, params)
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def top_sessions(
    cursor: duckdb.DuckDBPyConnection,
    window: Window,
    scope: TenantScope,
    *,
    filters: Mapping[str, str] | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The costliest sessions with a call in the window (their whole cost, not only the
    window's part), most expensive first."""
    params: dict[str, Any] = {
        "start": _naive(window.start),
        "end": _naive(window.end),
        "limit": limit,
        **scope.params(),
    }
    where = ["last_call_at >= $start", "first_call_at < $end", scope.where("tenant_id")]
    for n, (name, value) in enumerate(sorted((filters or {}).items())):
        if name not in SESSION_FILTERS:
            raise CostQueryError(f"sessions cannot be filtered by {name}")
        where.append(f"{SESSION_FILTERS[name]} = $filter{n}")
        params[f"filter{n}"] = value
    sql = f"""
        SELECT * FROM rollup_sessions WHERE {" AND ".join(where)}
        ORDER BY cost_usd DESC, session_id LIMIT $limit
    """
    return _fetch(cursor, sql, params)


def session(
    cursor: duckdb.DuckDBPyConnection, session_id: str, scope: TenantScope
) -> dict[str, Any] | None:
    """One session's rollup, or None (unknown, or another tenant's)."""
    rows = _fetch(
        cursor,
        f"SELECT * FROM rollup_sessions WHERE session_id = $session_id "
        f"AND {scope.where('tenant_id')}",
        {"session_id": session_id, **scope.params()},
    )
    return rows[0] if rows else None


# ---- unit economics ----------------------------------------------------------------------

FEATURE_USAGE = """
SELECT feature, sum(calls) AS calls, sum(unpriced_calls) AS unpriced_calls,
       sum(error_calls) AS error_calls, sum(cost_usd) AS cost_usd
FROM ({source}) r
WHERE {scope}
GROUP BY feature
"""

# Sessions whose first call is in the window, per feature (the session's first call's), and
# those of them with a value-unit outcome of that feature not marked failed, whenever it
# occurred: a session that succeeds after the window closes still succeeded.
FEATURE_SESSIONS = f"""
WITH
    cohort AS (
        SELECT session_id, feature FROM rollup_sessions
        WHERE first_call_at >= $start AND first_call_at < $end AND {{scope}}
    ),
    config AS (SELECT unnest($features) AS feature, unnest($outcomes) AS outcome),
    succeeded AS (
        SELECT DISTINCT r.session_id
        FROM ({RESOLVED_OUTCOMES}) r
        JOIN cohort c ON c.session_id = r.session_id
        JOIN config g ON g.feature = c.feature AND g.outcome = r.name
        WHERE r.success IS DISTINCT FROM false
    )
SELECT c.feature, count(*) AS sessions, count(s.session_id) AS successful_sessions
FROM cohort c LEFT JOIN succeeded s USING (session_id)
GROUP BY c.feature
"""


def feature_usage(
    cursor: duckdb.DuckDBPyConnection, window: Window, scope: TenantScope
) -> dict[str | None, dict[str, Any]]:
    """Calls and cost per feature over the window (whole hours), every call included."""
    source, params = usage_source(align(window, "hour"), ["feature"], None)
    sql = FEATURE_USAGE.replace("{source}", source).replace("{scope}", scope.where("tenant_id"))
    rows = _fetch(cursor, sql, params | scope.params())
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
    rows = _fetch(
        cursor,
        FEATURE_SESSIONS.replace("{scope}", scope.where("tenant_id")),
        {
            "start": _naive(window.start),
            "end": _naive(window.end),
            "since": _naive(window.start),
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
        cursor, value_units, since=_naive(window.start), until=_naive(window.end), scope=scope
    )
    features = sorted(set(usage) | set(value_units), key=lambda f: (f is None, f or ""))
    result = []
    for feature in features:
        used = usage.get(feature, {})
        cost = Decimal(used.get("cost_usd") or 0)
        calls = int(used.get("calls") or 0)
        counted = sessions.get(feature, {})
        session_count = int(counted.get("sessions") or 0)
        unit = units.get(feature) if feature is not None else None
        successful = int(counted.get("successful_sessions") or 0) if unit else None
        value_count = int(unit["units"]) if unit else None
        result.append(
            {
                "feature": feature,
                "cost_usd": cost,
                "calls": calls,
                "unpriced_calls": int(used.get("unpriced_calls") or 0),
                "error_calls": int(used.get("error_calls") or 0),
                "sessions": session_count,
                "value_unit": unit["outcome"] if unit else None,
                "value_units": value_count,
                "failed_value_units": int(unit["failed"]) if unit else None,
                "successful_sessions": successful,
                "success_rate": successful / session_count
                if successful is not None and session_count
                else None,
                "cost_per_value_unit_usd": ratio(cost, value_count),
                "cost_per_successful_session_usd": ratio(cost, successful),
                "cost_per_session_usd": ratio(cost, session_count),
                "cost_per_1k_requests_usd": ratio(cost * 1000, calls),
            }
        )
    return result
