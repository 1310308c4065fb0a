"""The alert policy: severity thresholds, quiet times, cooldowns and routes.

The serving process builds it from its settings and stores it in `alert_policy` when it starts
(`store_policy`); the lifecycle job reads it on every run (`load_policy`), so the job needs no
settings object and `spendscope jobs run` decides exactly as `spendscope serve` would. The
policy names channels, never their secrets: webhook URLs and routing keys stay in settings.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import duckdb

from warehouse.core.errors import InvalidRequest
from warehouse.store.upsert import replace_into

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
CHANNELS = ("slack", "pagerduty", "webhook")
KINDS = ("spend_anomaly", "runaway_session", "budget", "reconciliation_gap")

# A spend series is evaluated hourly: an hour without a signal says little, so it resolves
# only after a few quiet hours. A runaway session is evaluated every minute. A bill gap
# holds until the bill or the prices change.
DEFAULT_QUIET_MINUTES = {
    "spend_anomaly": 180, "runaway_session": 10, "budget": 180, "reconciliation_gap": 180,
}  # fmt: skip
DEFAULT_COOLDOWN_MINUTES = {
    "spend_anomaly": 360, "runaway_session": 30, "budget": 1440, "reconciliation_gap": 1440,
}  # fmt: skip
DEFAULT_ROUTES: dict[str, tuple[str, ...]] = {
    "info": (),
    "warning": ("slack", "webhook"),
    "critical": ("pagerduty", "slack", "webhook"),
}
NAME = "default"


class PolicyError(InvalidRequest):
    """A policy that cannot be applied (unknown kind, severity or channel)."""


def severity_rank(severity: str | None) -> int:
    """-1 for None (nothing yet), then info < warning < critical."""
    return -1 if severity is None else SEVERITIES.index(severity)  # type: ignore[arg-type]


@dataclass(frozen=True)
class AlertPolicy:
    warning_usd: Decimal = Decimal("10")
    critical_usd: Decimal = Decimal("250")
    quiet_minutes: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_QUIET_MINUTES))
    cooldown_minutes: Mapping[str, int] = field(
        default_factory=lambda: dict(DEFAULT_COOLDOWN_MINUTES)
    )
    routes: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_ROUTES))
    # The channels that are configured (have a URL or routing key); routes to others are
    # ignored, so a channel added later does not receive the backlog.
    channels: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.warning_usd <= self.critical_usd:
            raise PolicyError("need 0 <= warning threshold <= critical threshold")
        for name, minutes in (("quiet", self.quiet_minutes), ("cooldown", self.cooldown_minutes)):
            unknown = set(minutes) - set(KINDS)
            if unknown:
                raise PolicyError(f"{name} minutes for unknown kinds {sorted(unknown)}")
            if any(value < 0 for value in minutes.values()):
                raise PolicyError(f"{name} minutes must not be negative")
        if set(self.routes) - set(SEVERITIES):
            raise PolicyError(f"routes for unknown severities {sorted(set(self.routes))}")
        for channels in [*self.routes.values(), self.channels]:
            if set(channels) - set(CHANNELS):
                raise PolicyError(f"unknown channels {sorted(set(channels) - set(CHANNELS))}")

    def severity(self, impact_usd: Decimal) -> Severity:
        impact = abs(impact_usd)
        if impact >= self.critical_usd:
            return "critical"
        if impact >= self.warning_usd:
            return "warning"
        return "info"

    def quiet(self, kind: str) -> dt.timedelta:
        """How long an open incident stays open without a signal."""
        return dt.timedelta(minutes=self.quiet_minutes.get(kind, DEFAULT_QUIET_MINUTES[kind]))

    def cooldown(self, kind: str) -> dt.timedelta:
        """How long after resolving a re-firing series reopens its incident instead of
        opening (and paging) a new one."""
        minutes = self.cooldown_minutes.get(kind, DEFAULT_COOLDOWN_MINUTES[kind])
        return dt.timedelta(minutes=minutes)

    def route(self, severity: str) -> tuple[str, ...]:
        """The configured channels that severity goes to, in a fixed order."""
        routed = set(self.routes.get(severity, ()))
        return tuple(c for c in CHANNELS if c in routed and c in self.channels)

    def to_json(self) -> dict[str, Any]:
        return {
            "warning_usd": str(self.warning_usd),
            "critical_usd": str(self.critical_usd),
            "quiet_minutes": dict(self.quiet_minutes),
            "cooldown_minutes": dict(self.cooldown_minutes),
            "routes": {k: list(v) for k, v in self.routes.items()},
            "channels": sorted(self.channels),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlertPolicy:
        return cls(
            warning_usd=Decimal(data["warning_usd"]),
            critical_usd=Decimal(data["critical_usd"]),
            quiet_minutes=dict(data["quiet_minutes"]),
            cooldown_minutes=dict(data["cooldown_minutes"]),
            routes={k: tuple(v) for k, v in data["routes"].items()},
            channels=frozenset(data["channels"]),
        )


def store_policy(cursor: duckdb.DuckDBPyConnection, policy: AlertPolicy, now: dt.datetime) -> None:
    """Make `policy` the one the lifecycle job applies from its next run."""
    cursor.execute(
        replace_into(
            "alert_policy",
            ("name",),
            "SELECT ?::VARCHAR AS name, ?::VARCHAR AS policy, ?::TIMESTAMP AS updated_at",
        ),
        [NAME, json.dumps(policy.to_json(), sort_keys=True), now.replace(tzinfo=None)],
    )


def load_policy(cursor: duckdb.DuckDBPyConnection) -> AlertPolicy:
    """The stored policy; the defaults (with no channel configured) when none is stored."""
    row = cursor.execute("SELECT policy FROM alert_policy WHERE name = ?", [NAME]).fetchone()
    return AlertPolicy.from_json(json.loads(row[0])) if row else AlertPolicy()
