"""The live ledger: spend per session and per budget period, in memory, as calls arrive.

Counters, each a `Tally` (spend in exact DECIMAL, calls, calls without a price):

- per session, keyed on (tenant, session id): session ids are only unique per tenant
  ('' stands for calls without a tenant); a session's spend since its first call;
- per scope and period: (period, scope, value, period start), for every period (`day`,
  `month`: UTC calendar days and months, as `warehouse.detection.budgets`) and scope
  (`total`; `feature` and `tenant` with their value).

`warehouse.ledger.feed` credits calls as the span writer commits them, priced with the price
book; `warehouse.ledger.seed` fills the counters at start-up from what the jobs priced.
`check` answers allow / deny against the limits (`warehouse.ledger.limits`). Thread-safe:
the writer thread credits while the API reads. Sessions idle for longer than
`SESSION_HORIZON` and periods before the previous day or month are forgotten (`prune`).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from warehouse.detection.budgets import Budget, Period, period_bounds
from warehouse.ledger.limits import CheckLimits

SESSION_HORIZON = dt.timedelta(days=7)
PERIODS: tuple[Period, ...] = ("day", "month")
ZERO = Decimal(0)

ScopeKind = Literal["session", "total", "feature", "tenant"]


@dataclass(slots=True)
class Tally:
    spend_usd: Decimal = ZERO
    calls: int = 0
    unpriced_calls: int = 0
    last_at: dt.datetime | None = None

    def add(self, cost: Decimal | None, calls: int, at: dt.datetime) -> None:
        if cost is not None:
            self.spend_usd += cost
        self.calls += calls
        if cost is None:
            self.unpriced_calls += calls
        if self.last_at is None or at > self.last_at:
            self.last_at = at


@dataclass(frozen=True, slots=True)
class Dimensions:
    """Who a call bills (None: not known, yet)."""

    tenant_id: str | None = None
    session_id: str | None = None
    feature: str | None = None

    @property
    def known(self) -> bool:
        return not (self.tenant_id is None and self.session_id is None and self.feature is None)


@dataclass(frozen=True)
class ScopeStatus:
    """One limit a check met: the spend it holds and what is left of it."""

    scope: ScopeKind
    value: str | None  # the session id, feature or tenant; None for total
    name: str | None  # the budget's name (None for a session limit)
    period: Literal["session", "day", "month"]
    period_start: dt.datetime | None  # naive UTC; None for a session
    period_end: dt.datetime | None
    spend_usd: Decimal
    limit_usd: Decimal | None  # None: no limit, reported for its spend
    calls: int
    unpriced_calls: int

    @property
    def remaining_usd(self) -> Decimal | None:
        return None if self.limit_usd is None else max(self.limit_usd - self.spend_usd, ZERO)

    @property
    def exceeded(self) -> bool:
        return self.limit_usd is not None and self.spend_usd >= self.limit_usd


@dataclass(frozen=True)
class CheckResult:
    allowed: bool
    scopes: tuple[ScopeStatus, ...]
    seeded_at: dt.datetime | None  # when the ledger was filled from the warehouse

    @property
    def denied_by(self) -> tuple[ScopeStatus, ...]:
        return tuple(s for s in self.scopes if s.exceeded)


def _period_key(period: Period, at: dt.datetime) -> dt.datetime:
    return period_bounds(period, at)[0]


@dataclass
class LiveLedger:
    """The counters, their limits and the lock that guards them."""

    limits: CheckLimits = field(default_factory=CheckLimits)
    seeded_at: dt.datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sessions: dict[tuple[str, str], Tally] = field(default_factory=dict)
    _periods: dict[tuple[Period, str, str | None, dt.datetime], Tally] = field(default_factory=dict)

    def set_limits(self, limits: CheckLimits) -> None:
        self.limits = limits

    def credit(
        self,
        dims: Dimensions,
        at: dt.datetime,
        cost: Decimal | None,
        *,
        calls: int = 1,
        with_total: bool = True,
    ) -> None:
        """Add `calls` costing `cost` in all (None: no price) that started at `at` (naive
        UTC) to every counter `dims` names (and the totals unless `with_total` is false:
        a call whose dimensions became known after it was counted)."""
        scopes: list[tuple[str, str | None]] = [("total", None)] if with_total else []
        if dims.feature is not None:
            scopes.append(("feature", dims.feature))
        if dims.tenant_id is not None:
            scopes.append(("tenant", dims.tenant_id))
        with self._lock:
            if dims.session_id is not None:
                key = (dims.tenant_id or "", dims.session_id)
                self._sessions.setdefault(key, Tally()).add(cost, calls, at)
            for period in PERIODS:
                start = _period_key(period, at)
                for scope, value in scopes:
                    tally = self._periods.setdefault((period, scope, value, start), Tally())
                    tally.add(cost, calls, at)

    def session(self, tenant_id: str | None, session_id: str) -> Tally:
        with self._lock:
            found = self._sessions.get((tenant_id or "", session_id))
            return Tally(found.spend_usd, found.calls, found.unpriced_calls) if found else Tally()

    def period(self, budget: Budget, now: dt.datetime) -> Tally:
        start = _period_key(budget.period, now)
        with self._lock:
            found = self._periods.get((budget.period, budget.scope, budget.scope_value, start))
            return Tally(found.spend_usd, found.calls, found.unpriced_calls) if found else Tally()

    def check(
        self,
        now: dt.datetime,
        *,
        tenant_id: str | None,
        session_id: str | None,
        feature: str | None,
    ) -> CheckResult:
        """Allow unless one of the limits that apply is reached. A session (given
        `session_id`) is reported whether or not a limit holds it."""
        now = now.replace(tzinfo=None)
        limits = self.limits
        scopes: list[ScopeStatus] = []
        if session_id is not None:
            tally = self.session(tenant_id, session_id)
            scopes.append(
                ScopeStatus("session", session_id, None, "session", None, None,
                            tally.spend_usd, limits.session_limit(feature), tally.calls,
                            tally.unpriced_calls)
            )  # fmt: skip
        for budget in limits.enforced:
            applies = (
                budget.scope == "total"
                or (budget.scope == "feature" and budget.scope_value == feature)
                or (budget.scope == "tenant" and budget.scope_value == tenant_id)
            )
            if not applies:
                continue
            start, end = period_bounds(budget.period, now)
            tally = self.period(budget, now)
            scopes.append(
                ScopeStatus(budget.scope, budget.scope_value, budget.name, budget.period,
                            start, end, tally.spend_usd, budget.amount_usd, tally.calls,
                            tally.unpriced_calls)
            )  # fmt: skip
        allowed = not any(s.exceeded for s in scopes)
        return CheckResult(allowed, tuple(scopes), self.seeded_at)

    def prune(self, now: dt.datetime) -> None:
        """Forget idle sessions and periods older than the previous day or month."""
        now = now.replace(tzinfo=None)
        oldest_session = now - SESSION_HORIZON
        keep_from = {
            period: _period_key(period, _period_key(period, now) - dt.timedelta(seconds=1))
            for period in PERIODS
        }
        with self._lock:
            self._sessions = {
                key: tally
                for key, tally in self._sessions.items()
                if tally.last_at is None or tally.last_at >= oldest_session
            }
            self._periods = {
                key: tally for key, tally in self._periods.items() if key[3] >= keep_from[key[0]]
            }

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._periods.clear()

    @property
    def sessions(self) -> int:
        return len(self._sessions)
