"""The gate's policy (`spendscope-gate.toml`) and the verdict it gives each path.

```toml
[gate]
max_increase_pct = 10          # the interval's lower end must pass this to fail
max_increase_usd_per_run = 0.001
max_increase_usd_per_month = 50
confidence = 0.95
warn_only = false

[paths."support.answer"]
max_increase_pct = 5
monthly_cost_usd = 1200        # production volume; else taken from a running spendscope
```

A path fails only when every threshold that applies to it is passed: the relative increase
beyond doubt (the interval's lower end above `max_increase_pct`), the dollars per run, and,
when its production cost per month is known, the dollars per month that increase means.
"""

from __future__ import annotations

import enum
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from warehouse.core.errors import InvalidRequest
from warehouse.gate.compare import PathChange
from warehouse.gate.run import read_document

DEFAULT_POLICY_FILE = "spendscope-gate.toml"


class PolicyError(InvalidRequest):
    """A policy file that cannot be used, with the file and the key named."""


@dataclass(frozen=True)
class Thresholds:
    max_increase_pct: float = 10.0
    max_increase_usd_per_run: float | None = None
    max_increase_usd_per_month: float | None = None
    monthly_cost_usd: float | None = None


@dataclass(frozen=True)
class Policy:
    defaults: Thresholds = field(default_factory=Thresholds)
    paths: dict[str, Thresholds] = field(default_factory=dict)
    confidence: float = 0.95
    warn_only: bool = False

    def for_path(self, path: str) -> Thresholds:
        return self.paths.get(path, self.defaults)

    def with_monthly_costs(self, monthly: dict[str, float]) -> Policy:
        """This policy, with production cost per month filled in where the file set none."""
        paths = dict(self.paths)
        for path, cost in monthly.items():
            thresholds = self.for_path(path)
            if thresholds.monthly_cost_usd is None:
                paths[path] = replace(thresholds, monthly_cost_usd=cost)
        return replace(self, paths=paths)


class Verdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NEW = "new"
    REMOVED = "removed"
    UNPRICED = "unpriced"


@dataclass(frozen=True)
class Judged:
    change: PathChange
    verdict: Verdict
    reason: str
    monthly_change_usd: float | None


def load_policy(path: Path | None) -> Policy:
    """The policy in `path`; the defaults when `path` is None (no file given or found)."""
    if path is None:
        return Policy()
    return read_document(
        path, tomllib.loads, tomllib.TOMLDecodeError, _policy, PolicyError, "policy", "TOML"
    )


def _policy(document: dict[str, Any]) -> Policy:
    unknown = set(document) - {"gate", "paths"}
    if unknown:
        raise PolicyError(f"unknown section(s) {sorted(unknown)}; expected [gate] and [paths.*]")
    gate = dict(document.get("gate", {}))
    confidence = _number(gate.pop("confidence", 0.95), "gate.confidence")
    if not 0.5 <= confidence < 1:
        raise PolicyError("gate.confidence must be at least 0.5 and below 1")
    warn_only = gate.pop("warn_only", False)
    if not isinstance(warn_only, bool):
        raise PolicyError("gate.warn_only must be true or false")
    defaults = _thresholds(gate, "gate", Thresholds())
    paths = {
        str(name): _thresholds(dict(table), f"paths.{name}", defaults)
        for name, table in _table(document.get("paths", {}), "paths").items()
    }
    return Policy(defaults, paths, confidence, warn_only)


def _thresholds(table: dict[str, Any], where: str, base: Thresholds) -> Thresholds:
    known = {item.name for item in fields(Thresholds)}
    unknown = set(table) - known
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    values = {key: _number(value, f"{where}.{key}") for key, value in table.items()}
    if any(value < 0 for value in values.values()):
        raise PolicyError(f"{where}: thresholds cannot be negative")
    return replace(base, **values)


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise PolicyError(f"{where} must hold one table per path")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(f"{where} must be a number, not {value!r}")
    return float(value)


def judge(change: PathChange, policy: Policy) -> Judged:
    """The verdict for one path, with the reason in words."""
    thresholds = policy.for_path(change.path)
    if change.base is None:
        return Judged(change, Verdict.NEW, "a path the base run does not have", None)
    if change.head is None:
        return Judged(change, Verdict.REMOVED, "a path the head run no longer has", None)
    if change.unpriced_calls:
        reason = f"{change.unpriced_calls} unpriced calls: their cost is unknown, not $0"
        return Judged(change, Verdict.UNPRICED, reason, None)
    monthly = None
    if thresholds.monthly_cost_usd is not None and change.change_pct is not None:
        monthly = thresholds.monthly_cost_usd * change.change_pct / 100
    failed = _failed_thresholds(change, thresholds, monthly)
    if failed is None:
        return Judged(change, Verdict.PASS, "within the policy or the noise", monthly)
    return Judged(change, Verdict.FAIL, failed, monthly)


def _failed_thresholds(
    change: PathChange, thresholds: Thresholds, monthly: float | None
) -> str | None:
    """The reason the path fails, or None when any applicable threshold holds."""
    per_run = change.change_per_run or 0.0
    if change.base and change.base.cost_per_run == 0:
        if per_run <= (thresholds.max_increase_usd_per_run or 0.0):
            return None
        return f"from $0 to {money(per_run)} per run"
    if change.interval_pct is None or not change.interval_pct[0] > thresholds.max_increase_pct:
        return None
    if (
        thresholds.max_increase_usd_per_run is not None
        and per_run <= thresholds.max_increase_usd_per_run
    ):
        return None
    if (
        thresholds.max_increase_usd_per_month is not None
        and monthly is not None
        and monthly <= thresholds.max_increase_usd_per_month
    ):
        return None
    reason = (
        f"+{change.interval_pct[0]:.1f}% at least (max {thresholds.max_increase_pct:g}%), "
        f"{money(per_run, signed=True)} per run"
    )
    if monthly is not None:
        reason += f", {money(monthly, signed=True)} per month in production"
    return reason


def money(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "unpriced"
    text = f"{abs(value):,.6f}".rstrip("0").rstrip(".") if abs(value) < 1 else f"{abs(value):,.2f}"
    sign = "-" if value < 0 else ("+" if signed else "")
    return f"{sign}${text}"
