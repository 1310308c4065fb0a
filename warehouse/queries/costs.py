"""Cost queries behind the API: costs by dimension and time, and the top sessions.

They read the rollups (`warehouse.rollups.job`), never the call-level tables, so they answer in
milliseconds over months of calls. Every query takes a `TenantScope`. All SQL is
parameterized; the only identifiers spliced in come from the fixed maps below.

Unknown is unknown: the rollups keep an unpriced call's cost out of `cost_usd` (it is never
$0), and count it in `unpriced_calls`. `coverage` says how much of an aggregate is priced and
`known_cost` turns a sum over calls none of which is priced into None, not 0; the API
applies both to every cost it returns. A model the catalog prices at $0 is priced.

Time windows are half-open, [start, end). `rollup_hourly` answers at hour granularity and
`rollup_users` at day granularity, so a window is widened to whole hours (days): `align`
says which window a query really covered, and the API returns it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import duckdb

from warehouse.core.errors import InvalidRequest
from warehouse.core.rows import fetch_dicts
from warehouse.store.scope import TenantScope

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
T = TypeVar("T")

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


def coverage(calls: int, unpriced_calls: int) -> dict[str, Any]:
    """How much of an aggregate of `calls` is priced: `priced_calls`, and `priced_share`,
    the share of its calls (not of tokens or dollars) that are; None without calls."""
    priced = int(calls) - int(unpriced_calls)
    return {"priced_calls": priced, "priced_share": priced / calls if calls else None}


def known_cost(amount: T, calls: int, unpriced_calls: int) -> T | None:
    """A sum over priced calls as far as it is known: None when there are calls and none
    of them is priced (unknown, never $0); the sum of the priced ones otherwise."""
    return None if calls and unpriced_calls >= calls else amount


class CostQueryError(InvalidRequest):
    """A combination of parameters the rollups cannot answer; the message says why."""

    status_code = 400


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


def naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def align(window: Window, unit: Literal["hour", "day"]) -> Window:
    """The window widened to whole units: start floored, end ceiled."""
    step = dt.timedelta(days=1) if unit == "day" else dt.timedelta(hours=1)

    def floor(value: dt.datetime) -> dt.datetime:
        value = naive_utc(value).replace(minute=0, second=0, microsecond=0)
        return value.replace(hour=0) if unit == "day" else value

    start, end = floor(window.start), floor(window.end)
    return Window(start, end if end == naive_utc(window.end) else end + step)


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
    ("rollup_feature_daily", ("feature",)),
    ("rollup_daily", tuple(HOURLY_DIMENSIONS.values())),
)


def usage_source(
    window: Window, columns: Sequence[str], grain: Grain | None
) -> tuple[str, dict[str, Any]]:
    """A subquery of the hourly rollup's measures in `window` (whole hours) by `columns`,
    with each row's time as `t`: hours for grain `hour`; otherwise whole days from the
    smallest daily rollup that has `columns` and the hours at either edge from
    rollup_hourly, as days. Its parameters are prefixed `src_`."""
    needed = list(dict.fromkeys(columns))
    select = ", ".join([*needed, _MEASURE_COLUMNS])
    days = align(window, "day")
    first_day = days.start if days.start == window.start else days.start + dt.timedelta(days=1)
    last_day = days.end if days.end == window.end else days.end - dt.timedelta(days=1)
    if grain == "hour" or first_day >= last_day:
        hour = "hour" if grain == "hour" else "date_trunc('day', hour)"
        sql = f"""
            SELECT {hour} AS t, {select} FROM rollup_hourly
            WHERE hour >= $src_start AND hour < $src_end
        """
        return sql, {"src_start": window.start, "src_end": window.end}
    daily = next(table for table, has in DAILY_ROLLUPS if set(needed) <= set(has))
    parts = [
        f"""
        SELECT day::TIMESTAMP AS t, {select} FROM {daily}
        WHERE day >= $src_first_day AND day < $src_last_day
        """
    ]
    params = {"src_first_day": first_day, "src_last_day": last_day}
    for n, (start, end) in enumerate(((window.start, first_day), (last_day, window.end))):
        if start < end:  # the hours of a day the window only partly covers
            parts.append(
                f"""
                SELECT date_trunc('day', hour) AS t, {select} FROM rollup_hourly
                WHERE hour >= $src_edge{n}_start AND hour < $src_edge{n}_end
                """
            )
            params |= {f"src_edge{n}_start": start, f"src_edge{n}_end": end}
    return " UNION ALL ".join(parts), params


def _add(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The totals of grouped rows (exact: integers and Decimals)."""
    totals: dict[str, Any] = dict(_ZERO) | {"reported_cost_usd": None}
    for row in rows:
        for measure in MEASURES:
            if row[measure] is not None:
                totals[measure] = (totals[measure] or 0) + row[measure]
    return totals


@dataclass(frozen=True)
class _Plan:
    """The grouped rows of a cost query: `sql` selects `keys` and the summed measures."""

    window: Window
    sql: str
    params: dict[str, Any]
    keys: list[str]
    order: str


def _plan(query: CostQuery, scope: TenantScope) -> _Plan:
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
        needed += [] if scope.unscoped else ["tenant_id"]
        source, params = usage_source(window, needed, query.grain)
    if window.end <= window.start:
        raise CostQueryError("end must be after start")

    keys: list[str] = []
    select: list[str] = []
    if query.grain is not None:
        period = "date_trunc('month', t)" if query.grain == "month" else "t"
        select.append(f"{period}::TIMESTAMP AS period")
        keys.append("period")
    # A user id is one tenant's: grouped by user, the rows are per (user, tenant).
    tenant = ["tenant"] if "user" in query.group_by and "tenant" not in query.group_by else []
    for name in (*query.group_by, *tenant):
        select.append(f"{columns[name]} AS {name}")
        keys.append(name)
    params |= scope.params()
    where = [scope.where("tenant_id")]
    for n, (name, value) in enumerate(sorted(query.filters.items())):
        where.append(f"{columns[name]} = $filter{n}")
        params[f"filter{n}"] = value
    sql = f"SELECT {', '.join([*select, _SUMS])} FROM ({source}) r WHERE {' AND '.join(where)}"
    if keys:
        sql += " GROUP BY ALL"
    order = [*(["period"] if query.grain else []), "cost_usd DESC"]
    order += [f"{k} NULLS FIRST" for k in keys if k != "period"]
    return _Plan(window, sql, params, keys, ", ".join(order))


def costs(cursor: duckdb.DuckDBPyConnection, query: CostQuery, scope: TenantScope) -> CostResult:
    """Cost and usage grouped by `query.group_by` dimensions and by `query.grain`, with the
    totals of every matching row (whatever the limit); rows by period, then cost."""
    plan = _plan(query, scope)
    sql, params = f"{plan.sql} ORDER BY {plan.order}", dict(plan.params)
    if plan.keys:
        sql += " LIMIT $limit"
        params["limit"] = query.limit + 1  # one more tells that there are more
    rows = fetch_dicts(cursor, sql, params)
    if not plan.keys:
        totals = _add(rows)  # one row, of NULL sums when nothing matched
        return CostResult(plan.window, rows if totals["calls"] else [], totals, truncated=False)
    if len(rows) <= query.limit:
        return CostResult(plan.window, rows, _add(rows), truncated=False)
    everything = fetch_dicts(cursor, f"SELECT * FROM ({plan.sql})", plan.params)
    return CostResult(plan.window, rows[: query.limit], _add(everything), truncated=True)


def _text(column: str) -> str:
    """A DECIMAL column as the API writes money: exact, without trailing zeros."""
    return f"rtrim(rtrim({column}::VARCHAR, '0'), '.')"  # every money column has a scale


def _known(text: str) -> str:
    """`known_cost` in SQL, over a group with calls: NULL when none of them is priced."""
    return f"CASE WHEN unpriced_calls < calls THEN {text} END"


@dataclass(frozen=True)
class CostJson:
    """`costs` for the API: `rows` is a JSON array, built by DuckDB (a thousand rows cost a
    few milliseconds this way, against tens as Python objects)."""

    window: Window
    rows: str
    totals: dict[str, Any]
    truncated: bool


def costs_json(cursor: duckdb.DuckDBPyConnection, query: CostQuery, scope: TenantScope) -> CostJson:
    """What `costs` returns, with the rows as the JSON of the API's `CostRow`s."""
    plan = _plan(query, scope)
    dimensions = ", ".join(f"'{k}', {k}" for k in plan.keys if k != "period")
    period = "strftime(period, '%Y-%m-%dT%H:%M:%SZ')" if query.grain else "NULL::VARCHAR"
    row = f"""{{
        'period': {period}, 'dimensions': json_object({dimensions}),
        'cost_usd': {_known(_text("cost_usd"))}, 'calls': calls,
        'unpriced_calls': unpriced_calls, 'priced_calls': calls - unpriced_calls,
        'priced_share': (calls - unpriced_calls) / calls, 'error_calls': error_calls,
        'tokens': {{'input': input_tokens, 'output': output_tokens,
                   'cache_read': cache_read_tokens, 'cache_write': cache_write_tokens,
                   'reasoning': reasoning_tokens}},
        'reported_cost_usd': {_text("reported_cost_usd")},
        'cache_savings_usd': {_known(_text("cache_savings_usd"))}
    }}"""
    sql = f"""
        WITH g AS ({plan.sql})
        SELECT to_json(list_slice(
                   coalesce(list({row} ORDER BY {plan.order}) FILTER (WHERE calls > 0), []),
                   1, $limit)),
               count(*) FILTER (WHERE calls > 0) > $limit,
               {", ".join(f"sum({m})" for m in MEASURES)}
        FROM g
    """
    result = cursor.execute(sql, plan.params | {"limit": query.limit}).fetchone()
    assert result is not None  # an aggregate without GROUP BY returns one row
    totals = _add([dict(zip(MEASURES, result[2:], strict=True))])
    return CostJson(plan.window, result[0], totals, truncated=bool(result[1]))


# ---- sessions ----------------------------------------------------------------------------

SESSION_FILTERS = {
    "feature": "feature",
    "tenant": "tenant_id",
    "user": "user_id",
    "environment": "environment",
}


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
        "start": naive_utc(window.start),
        "end": naive_utc(window.end),
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
        ORDER BY cost_usd DESC, session_id, tenant_id NULLS FIRST LIMIT $limit
    """
    return fetch_dicts(cursor, sql, params)


def session(
    cursor: duckdb.DuckDBPyConnection,
    session_id: str,
    scope: TenantScope,
    tenant: str | None = None,
) -> list[dict[str, Any]]:
    """The rollups of the sessions with this id that the scope may see, one per tenant
    (none: unknown, or another tenant's); `tenant` picks one tenant's ('' for the session
    of calls without a tenant)."""
    condition = "TRUE" if tenant is None else "coalesce(tenant_id, '') = $tenant"
    return fetch_dicts(
        cursor,
        f"SELECT * FROM rollup_sessions WHERE session_id = $session_id "
        f"AND {scope.where('tenant_id')} AND {condition} ORDER BY tenant_id NULLS FIRST",
        {"session_id": session_id, **scope.params()}
        | ({} if tenant is None else {"tenant": tenant}),
    )
