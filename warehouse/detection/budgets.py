"""Budgets: spend per feature, tenant or in total, per day or month, against an amount.

A budget fires (a `budget` signal on every run while it holds) once its spend so far in the
period reaches one of its thresholds (percentages of the amount, e.g. 50, 80, 100), or when
its forecast overruns the amount. A month budget's forecast is the product's one month-end
forecast (`warehouse.forecast`, weekday-aware, the figure the overview and `/forecast` show
for the same spend); none without a complete day of history (an overrun is then the spend
so far past the amount). A day budget's is the spend so
far plus the last 6 hours' spend per hour to midnight. Spend comes from `rollup_hourly` (the
hour under way included), in exact DECIMAL; periods are UTC calendar days and months.

One series per budget: `budget:total:month`, `budget:feature=search:day`,
`budget:tenant=acme:month`; crossing 50 % then 80 % updates one incident, its impact
(the forecast or actual overrun, USD) rising as it goes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import duckdb

from warehouse.detection.signals import Signal, record_signals
from warehouse.forecast import spend_forecast
from warehouse.store.scope import ALL_TENANTS, TenantScope

NAME = "budgets"
BudgetScope = Literal["total", "feature", "tenant"]
Period = Literal["day", "month"]
SCOPE_COLUMNS = {"feature": "feature", "tenant": "tenant_id"}
DEFAULT_THRESHOLDS = (Decimal(50), Decimal(80), Decimal(100))
DAY_RATE_WINDOW = dt.timedelta(hours=6)  # a day budget's forecast runs this rate to midnight


@dataclass(frozen=True)
class Budget:
    name: str
    scope: BudgetScope
    scope_value: str | None  # the feature or tenant; None for total
    period: Period
    amount_usd: Decimal
    thresholds: tuple[Decimal, ...] = DEFAULT_THRESHOLDS  # percent of the amount, ascending
    forecast: bool = True  # also fire when the forecast overruns the amount

    @property
    def series(self) -> str:
        what = "total" if self.scope == "total" else f"{self.scope}={self.scope_value}"
        return f"budget:{what}:{self.period}"

    @property
    def tenant_id(self) -> str | None:
        return self.scope_value if self.scope == "tenant" else None


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    period_start: dt.datetime
    period_end: dt.datetime
    spend_usd: Decimal
    forecast_usd: Decimal | None  # None: no history to forecast by
    percent: Decimal  # spend / amount x 100
    crossed: Decimal | None  # the highest threshold reached
    forecast_overrun: bool

    @property
    def firing(self) -> bool:
        return self.crossed is not None or self.forecast_overrun

    @property
    def impact_usd(self) -> Decimal:
        """The overrun, actual or forecast (0 while neither exceeds the amount)."""
        worst = max(self.spend_usd, self.forecast_usd or Decimal(0))
        return max(worst - self.budget.amount_usd, Decimal(0))


def period_bounds(period: Period, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The UTC calendar day or month holding `now` (naive UTC), half-open."""
    now = now.replace(tzinfo=None)
    day = dt.datetime(now.year, now.month, now.day)
    if period == "day":
        return day, day + dt.timedelta(days=1)
    start = day.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end


def store_budgets(
    cursor: duckdb.DuckDBPyConnection, budgets: Iterable[Budget], now: dt.datetime
) -> int:
    """Replace every budget with `budgets` (in the caller's transaction)."""
    rows = [
        (
            b.name, b.scope, b.scope_value, b.period, b.amount_usd,
            ",".join(str(t) for t in b.thresholds), b.forecast, now.replace(tzinfo=None),
        )
        for b in budgets
    ]  # fmt: skip
    cursor.execute("DELETE FROM budgets")
    if rows:
        cursor.executemany("INSERT INTO budgets VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def load_budgets(
    cursor: duckdb.DuckDBPyConnection, scope: TenantScope = ALL_TENANTS
) -> list[Budget]:
    """The budgets, by name; a tenant scope sees only its tenant's budgets."""
    condition = "TRUE" if scope.unscoped else f"scope = 'tenant' AND {scope.where('scope_value')}"
    rows = cursor.execute(
        "SELECT name, scope, scope_value, period, amount_usd, thresholds, forecast "
        f"FROM budgets WHERE {condition} ORDER BY name",
        scope.params(),
    ).fetchall()
    return [
        Budget(
            name=row[0], scope=row[1], scope_value=row[2], period=row[3],
            amount_usd=Decimal(row[4]),
            thresholds=tuple(Decimal(t) for t in row[5].split(",") if t),
            forecast=bool(row[6]),
        )
        for row in rows
    ]  # fmt: skip


def _spend(
    cursor: duckdb.DuckDBPyConnection, budget: Budget, start: dt.datetime, end: dt.datetime
) -> Decimal:
    column = SCOPE_COLUMNS.get(budget.scope)
    condition = f"{column} = $value" if column else "TRUE"
    params: dict[str, Any] = {"start": start, "end": end}
    if column:
        params["value"] = budget.scope_value
    row = cursor.execute(
        "SELECT coalesce(sum(cost_usd), 0) FROM rollup_hourly "
        f"WHERE hour >= $start AND hour < $end AND {condition}",
        params,
    ).fetchone()
    return Decimal(row[0]) if row else Decimal(0)


def day_forecast(spend: Decimal, recent: Decimal, now: dt.datetime) -> Decimal:
    """A day budget's forecast: the spend so far plus `recent` (the spend of the last
    DAY_RATE_WINDOW) per window for the rest of the day."""
    _, end = period_bounds("day", now)
    remaining = Decimal((end - now.replace(tzinfo=None)).total_seconds())
    return spend + recent * remaining / Decimal(DAY_RATE_WINDOW.total_seconds())


def evaluate(
    budget: Budget, spend: Decimal, forecast: Decimal | None, now: dt.datetime
) -> BudgetStatus:
    """A budget's status from its spend so far and its period-end forecast."""
    start, end = period_bounds(budget.period, now)
    percent = spend * 100 / budget.amount_usd if budget.amount_usd else Decimal(0)
    crossed = max((t for t in budget.thresholds if percent >= t), default=None)
    return BudgetStatus(
        budget=budget,
        period_start=start,
        period_end=end,
        spend_usd=spend,
        forecast_usd=forecast,
        percent=percent,
        crossed=crossed,
        # Without a forecast the spend so far is the period's floor: past the amount, it
        # overruns whatever comes.
        forecast_overrun=budget.forecast
        and (spend if forecast is None else forecast) > budget.amount_usd,
    )


def statuses(
    cursor: duckdb.DuckDBPyConnection, now: dt.datetime, scope: TenantScope = ALL_TENANTS
) -> list[BudgetStatus]:
    """Every budget (visible to `scope`) with its spend so far and forecast at `now`."""
    now = now.replace(tzinfo=None)
    result = []
    for budget in load_budgets(cursor, scope):
        start, end = period_bounds(budget.period, now)
        spend = _spend(cursor, budget, start, end)
        forecast: Decimal | None
        if budget.period == "day":
            recent = _spend(cursor, budget, now - DAY_RATE_WINDOW, now)
            forecast = day_forecast(spend, recent, now)
        else:
            filters: dict[str, str | None] = (
                {} if budget.scope == "total" else {budget.scope: budget.scope_value}
            )
            found = spend_forecast(cursor, now, filters)[1]
            forecast = found.total if found is not None else None
        result.append(evaluate(budget, spend, forecast, now))
    return result


def _money(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.01')):,}"


def signal(status: BudgetStatus, now: dt.datetime) -> Signal:
    b = status.budget
    what = "total spend" if b.scope == "total" else f"{b.scope} {b.scope_value}"
    title = (
        f"Budget {b.name}: {what} at {status.percent:.0f}% of {_money(b.amount_usd)} this "
        f"{b.period}, forecast "
        f"{'n/a' if status.forecast_usd is None else _money(status.forecast_usd)}"
    )
    return Signal(
        kind="budget",
        series=b.series,
        direction="up",
        detected_at=now.replace(tzinfo=None),
        window_start=status.period_start,
        window_end=status.period_end,
        actual_usd=status.spend_usd,
        expected_usd=b.amount_usd,
        impact_usd=status.impact_usd,
        score=float(status.percent) / 100,
        title=title,
        tenant_id=b.tenant_id,
        details={
            "budget": b.name,
            "scope": b.scope,
            "scope_value": b.scope_value,
            "period": b.period,
            "amount_usd": str(b.amount_usd),
            "spend_usd": str(status.spend_usd),
            "percent": str(status.percent.quantize(Decimal("0.1"))),
            "threshold_crossed": str(status.crossed) if status.crossed is not None else None,
            "thresholds": [str(t) for t in b.thresholds],
            "forecast_usd": None
            if status.forecast_usd is None
            else str(status.forecast_usd.quantize(Decimal("0.000001"))),
            "forecast_overrun": status.forecast_overrun,
        },
    )


def firing_signals(statuses: Sequence[BudgetStatus], now: dt.datetime) -> list[Signal]:
    return [signal(s, now) for s in statuses if s.firing]


def run(cursor: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
    """The budgets job (housekeeping: it evaluates now, not new batches)."""
    return record_signals(cursor, firing_signals(statuses(cursor, now), now))
