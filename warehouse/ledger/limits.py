"""The budget check's limits: the detection file's `[budget_check]` section.

    [budget_check]                                  # see docs/budgets.md
    session_usd = "2"                               # any one session (tenant, session id)
    feature_session_usd = { support-agent = "0.5" } # a feature's sessions, over session_usd
    enforce = ["search-daily", "acme-monthly"]      # [[budgets]] the check denies at

A session limit holds a session's spend since it started; an enforced budget (scope total,
feature or tenant; period day or month, see `warehouse.detection.budgets`) holds its
period's spend, so a feature budget with `period = "day"` is a per-feature-per-day limit and
a tenant budget a per-tenant limit. The check denies once the spend reaches a limit.
Stored with the detector thresholds (`detector_config`, as the file gives it).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb

from warehouse.detection.budgets import Budget, load_budgets
from warehouse.detection.config import ConfigError

SECTION = "budget_check"
_FIELDS = {"session_usd", "feature_session_usd", "enforce"}


@dataclass(frozen=True)
class CheckLimits:
    """What the budget check holds spend to; empty: every check allows."""

    session_usd: Decimal | None = None
    feature_session_usd: Mapping[str, Decimal] = field(default_factory=dict)
    enforced: tuple[Budget, ...] = ()

    def session_limit(self, feature: str | None) -> Decimal | None:
        """The limit of a session of `feature` (its feature's, else every session's)."""
        if feature is not None and feature in self.feature_session_usd:
            return self.feature_session_usd[feature]
        return self.session_usd


def positive_usd(value: Any) -> Decimal | None:
    """`value` (a string or number of the file) as a positive, finite amount; else None."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if isinstance(value, bool) or not amount.is_finite() or amount <= 0:
        return None
    return amount


def _amount(value: Any, where: str) -> Decimal:
    amount = positive_usd(value)
    if amount is None:
        raise ConfigError(f"[{SECTION}] {where} must be a positive amount in USD, got {value!r}")
    return amount


def parse_section(data: Mapping[str, Any], budget_names: Collection[str]) -> CheckLimits:
    """The section's limits, its `enforce` names checked against the file's budgets
    (the enforced budgets themselves are filled in by `load_limits`)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"[{SECTION}] must be a table")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ConfigError(f"[{SECTION}] unknown field(s) {', '.join(unknown)}")
    session = data.get("session_usd")
    per_feature = data.get("feature_session_usd", {})
    if not isinstance(per_feature, Mapping):
        raise ConfigError(f"[{SECTION}] feature_session_usd must be a table feature = amount")
    enforce = data.get("enforce", [])
    if not isinstance(enforce, list) or not all(isinstance(n, str) for n in enforce):
        raise ConfigError(f"[{SECTION}] enforce must be a list of budget names")
    missing = [name for name in enforce if name not in budget_names]
    if missing:
        raise ConfigError(
            f"[{SECTION}] enforce names no [[budgets]] entry: {', '.join(map(repr, missing))}"
        )
    return CheckLimits(
        session_usd=None if session is None else _amount(session, "session_usd"),
        feature_session_usd={
            str(feature): _amount(value, f"feature_session_usd.{feature}")
            for feature, value in per_feature.items()
        },
    )


def load_limits(cursor: duckdb.DuckDBPyConnection) -> CheckLimits:
    """The limits as last stored from the detection file."""
    row = cursor.execute(
        "SELECT config FROM detector_config WHERE detector = ?", [SECTION]
    ).fetchone()
    data: Mapping[str, Any] = json.loads(row[0]) if row else {}
    budgets = load_budgets(cursor)
    names = set(data.get("enforce", []))
    limits = parse_section(data, {b.name for b in budgets})
    return CheckLimits(
        session_usd=limits.session_usd,
        feature_session_usd=limits.feature_session_usd,
        enforced=tuple(b for b in budgets if b.name in names),
    )
