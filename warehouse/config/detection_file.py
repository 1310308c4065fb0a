"""The detection file: `<data_dir>/detection.toml`, budgets and detector thresholds.

    [anomalies.hour]              # spend anomalies, per hour (see docs/anomalies.md)
    min_excess_usd = 10
    [anomalies.day]               # ... and per trailing 24 hours
    min_ratio = 1.5
    [runaway]                     # runaway sessions
    session_budget_usd = "20"
    feature_session_budgets = { support-agent = "5" }
    [reconciliation]              # bill against spans (see docs/reconciliation.md)
    min_gap_share = 0.05

    [[budgets]]
    name = "acme-monthly"         # unique
    scope = "tenant"              # total | feature | tenant
    value = "acme"                # the feature or tenant (not for total)
    period = "month"              # day | month
    amount_usd = "5000"
    thresholds = [50, 80, 100]    # percent of the amount (default 50, 80, 100)
    forecast = true               # also alert when the forecast overruns (default true)

    [budget_check]                # the check before a model call (see docs/budgets.md)
    session_usd = "2"             # any one session's limit
    feature_session_usd = { support-agent = "0.5" }
    enforce = ["acme-monthly"]    # budgets above the check denies at, once spent

Loaded when the service starts (and by `spendscope jobs run`): the budgets become exactly
the file's, the thresholds the file's over the defaults. Errors name the entry and field.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import duckdb

from warehouse.core.errors import InvalidEntries
from warehouse.detection import config as detection_config
from warehouse.detection.budgets import Budget, BudgetScope, Period, store_budgets
from warehouse.detection.config import ANOMALIES, RUNAWAY, ConfigError
from warehouse.ledger.limits import SECTION as BUDGET_CHECK
from warehouse.ledger.limits import parse_section, positive_usd
from warehouse.reconciliation.config import RECONCILIATION, reconciliation_config

FILE_NAME = "detection.toml"
_BUDGET_FIELDS = {"name", "scope", "value", "period", "amount_usd", "thresholds", "forecast"}


class DetectionFileError(InvalidEntries):
    """The detection file cannot be used; `errors` names each problem."""


@dataclass(frozen=True)
class DetectionFile:
    path: Path | None
    anomalies: Mapping[str, Any] = field(default_factory=dict)
    runaway: Mapping[str, Any] = field(default_factory=dict)
    budgets: tuple[Budget, ...] = ()
    reconciliation: Mapping[str, Any] = field(default_factory=dict)
    budget_check: Mapping[str, Any] = field(default_factory=dict)


def _budget(entry: Any, where: str) -> Budget:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: must be a table")
    unknown = sorted(set(entry) - _BUDGET_FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: `name` is required")
    where = f"{where} ({name})"
    scope = entry.get("scope", "total")
    if scope not in ("total", "feature", "tenant"):
        raise ValueError(f"{where}: scope must be total, feature or tenant, got {scope!r}")
    value = entry.get("value")
    if scope == "total" and value is not None:
        raise ValueError(f"{where}: a total budget takes no `value`")
    if scope != "total" and (not isinstance(value, str) or not value):
        raise ValueError(f"{where}: a {scope} budget needs `value` (the {scope})")
    period = entry.get("period", "month")
    if period not in ("day", "month"):
        raise ValueError(f"{where}: period must be day or month, got {period!r}")
    amount = positive_usd(entry.get("amount_usd"))
    if amount is None:
        raise ValueError(f"{where}: amount_usd must be a positive amount in USD")
    thresholds = entry.get("thresholds", [50, 80, 100])
    if (
        not isinstance(thresholds, list)
        or not thresholds
        or not all(isinstance(t, int | float) and not isinstance(t, bool) for t in thresholds)
        or any(t <= 0 for t in thresholds)
    ):
        raise ValueError(f"{where}: thresholds must be a list of positive percentages")
    forecast = entry.get("forecast", True)
    if not isinstance(forecast, bool):
        raise ValueError(f"{where}: forecast must be true or false")
    return Budget(
        name=name.strip(),
        scope=cast(BudgetScope, scope),
        scope_value=value,
        period=cast(Period, period),
        amount_usd=amount,
        thresholds=tuple(sorted(Decimal(str(t)) for t in thresholds)),
        forecast=forecast,
    )


def parse(data: Mapping[str, Any], source: str) -> DetectionFile:
    errors: list[str] = []
    unknown = sorted(set(data) - {ANOMALIES, RUNAWAY, RECONCILIATION, BUDGET_CHECK, "budgets"})
    if unknown:
        errors.append(f"{source}: unknown section(s) {', '.join(unknown)}")
    anomalies, runaway = data.get(ANOMALIES, {}), data.get(RUNAWAY, {})
    try:
        detection_config.anomaly_config(anomalies)
    except ConfigError as exc:
        errors.append(f"{source}: {exc}")
    try:
        detection_config.runaway_config(runaway)
    except ConfigError as exc:
        errors.append(f"{source}: {exc}")
    reconciliation = data.get(RECONCILIATION, {})
    try:
        reconciliation_config(reconciliation)
    except ConfigError as exc:
        errors.append(f"{source}: {exc}")
    budgets: list[Budget] = []
    entries = data.get("budgets", [])
    if not isinstance(entries, list):
        errors.append(f"{source}: `budgets` must be an array of tables ([[budgets]])")
        entries = []
    for number, entry in enumerate(entries, 1):
        try:
            budgets.append(_budget(entry, f"{source}: budget {number}"))
        except ValueError as exc:
            errors.append(str(exc))
    names = [b.name for b in budgets]
    for name in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"{source}: budget name {name!r} is used twice")
    series = [b.series for b in budgets]
    for key in sorted({s for s in series if series.count(s) > 1}):
        errors.append(f"{source}: two budgets watch the same {key!r}")
    check = data.get(BUDGET_CHECK, {})
    try:
        parse_section(check, set(names))
    except ConfigError as exc:
        errors.append(f"{source}: {exc}")
    if errors:
        raise DetectionFileError(errors)
    return DetectionFile(None, anomalies, runaway, tuple(budgets), reconciliation, check)


def load(data_dir: Path) -> DetectionFile:
    """The data directory's detection file (an empty one when there is none)."""
    path = data_dir / FILE_NAME
    if not path.exists():
        return DetectionFile(None)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DetectionFileError([f"{path}: {exc}"]) from None
    parsed = parse(data, str(path))
    return DetectionFile(
        path,
        parsed.anomalies,
        parsed.runaway,
        parsed.budgets,
        parsed.reconciliation,
        parsed.budget_check,
    )


def store(cursor: duckdb.DuckDBPyConnection, loaded: DetectionFile, now: dt.datetime) -> None:
    """Make the budgets and thresholds exactly the file's (in the caller's transaction)."""
    store_budgets(cursor, loaded.budgets, now)
    detection_config.store(cursor, ANOMALIES, loaded.anomalies, now)
    detection_config.store(cursor, RUNAWAY, loaded.runaway, now)
    detection_config.store(cursor, RECONCILIATION, loaded.reconciliation, now)
    detection_config.store(cursor, BUDGET_CHECK, loaded.budget_check, now)
