"""The detectors' thresholds: typed, with defaults, stored in `detector_config` as JSON.

The detection file (`warehouse.config.detection_file`) writes them when the service starts; the
jobs read them on every run, so `spendscope serve` and `spendscope jobs run` detect the
same way. A detector without a row runs on the defaults below (documented in
docs/anomalies.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import duckdb

from warehouse.core.errors import InvalidRequest
from warehouse.detection.baseline import BASELINE, DAY, HOUR, Baseline, Thresholds
from warehouse.detection.per_call import PER_CALL, PerCall

ANOMALIES = "anomalies"
RUNAWAY = "runaway"


@dataclass(frozen=True)
class AnomalyConfig:
    hour: Thresholds = HOUR  # the hour's spend
    day: Thresholds = DAY  # the trailing 24 hours' spend, scored every hour
    baseline: Baseline = BASELINE
    per_call: PerCall = PER_CALL  # the cost per call of the trailing 3 hours
    # The hour under way is scored (its spend projected to the full hour) once this share
    # of it has passed; before, only the last complete hour is.
    min_partial_share: float = 0.25
    # impact_usd: the hourly excess as if it lasted this many hours (a day's excess: 1 day).
    impact_hours: int = 24
    explain: bool = True
    # At most this many firing series per run are explained (the largest impacts first).
    explain_limit: int = 25


@dataclass(frozen=True)
class RunawayConfig:
    # A session is watched while it made a model call in the last `active_seconds`.
    active_seconds: int = 300
    # Its spend so far counts its calls of the last `lookback_hours`.
    lookback_hours: int = 24
    # Peers: the feature's sessions active in the last `peer_days`, at least `min_peers`.
    peer_days: int = 7
    min_peers: int = 20
    # Far beyond its peers: calls, spend or spend rate at least `peer_factor` x the peers'
    # median and `peer_score` robust z (log space) above it, with at least `min_spend_usd`.
    peer_factor: float = 10.0
    peer_score: float = 5.0
    min_spend_usd: Decimal = Decimal("1")
    # A loop: the same call signature (model, span name, input and output tokens) repeated
    # at least `loop_repeats` times in the session.
    loop_repeats: int = 20
    loop_min_spend_usd: Decimal = Decimal("0.10")
    # Per-session budgets: one for every session, and per feature (overrides it).
    session_budget_usd: Decimal | None = None
    feature_session_budgets: Mapping[str, Decimal] = field(default_factory=dict)
    # impact_usd: spend so far plus this many minutes more at the current rate.
    impact_minutes: int = 60


class ConfigError(InvalidRequest):
    """A detector setting that cannot be used; the message names it."""


C = TypeVar("C")


def from_mapping(cls: type[C], data: Mapping[str, Any], where: str) -> C:
    """Build the dataclass `cls` (every field has a default) from `data`, converting and
    checking every value; a nested table changes only the settings it names."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: must be a table, got {type(data).__name__}")
    assert dataclasses.is_dataclass(cls)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}")
    defaults = cls()
    values = {
        name: _convert(hints[name], data[name], f"{where}.{name}", getattr(defaults, name))
        for name in data
    }
    return dataclasses.replace(defaults, **values)  # type: ignore[type-var]


def _convert(kind: Any, value: Any, where: str, default: Any = None) -> Any:
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        return None if value is None else _convert(options[0], value, where)
    if dataclasses.is_dataclass(kind):
        nested = from_mapping(kind, value, where)  # type: ignore[arg-type]
        given = {name: getattr(nested, name) for name in value}
        return dataclasses.replace(default, **given)
    if origin is not None and issubclass(origin, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: must be a table")
        _, item = typing.get_args(kind)
        return {str(k): _convert(item, v, f"{where}.{k}") for k, v in value.items()}
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: must be true or false")
        return value
    if kind is Decimal:
        try:
            amount = Decimal(str(value)) if not isinstance(value, bool) else None
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount < 0:
            raise ConfigError(f"{where}: must be a non-negative amount in USD, got {value!r}")
        return amount
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: must be a number, got {value!r}")
        if kind is int and value != int(value):
            raise ConfigError(f"{where}: must be a whole number, got {value!r}")
        if value < 0:
            raise ConfigError(f"{where}: must not be negative, got {value!r}")
        return kind(value)
    raise ConfigError(f"{where}: unsupported setting type {kind!r}")  # pragma: no cover


def _checked(config: AnomalyConfig) -> AnomalyConfig:
    if not 1 <= config.baseline.weeks <= 4:
        raise ConfigError("anomalies.baseline.weeks: must be 1 to 4")
    b = config.baseline
    if b.level_hours < 4 or b.scale_hours < 24:
        raise ConfigError("anomalies.baseline: level_hours >= 4 and scale_hours >= 24")
    if not b.level_hours <= b.level_floor_hours <= b.scale_hours:
        raise ConfigError("anomalies.baseline: level_floor_hours from level_hours to scale_hours")
    for name, low, high in (
        ("baseline", b.scale_low, b.scale_high),
        ("per_call", config.per_call.scale_low, config.per_call.scale_high),
    ):
        if not 0 < high < 1 or not 0 <= low < high:
            raise ConfigError(f"anomalies.{name}: 0 <= scale_low < scale_high < 1")
    if config.explain_limit < 0:
        raise ConfigError("anomalies.explain_limit: must be 0 or more")
    return config


def anomaly_config(data: Mapping[str, Any]) -> AnomalyConfig:
    return _checked(from_mapping(AnomalyConfig, data, ANOMALIES))


def runaway_config(data: Mapping[str, Any]) -> RunawayConfig:
    return from_mapping(RunawayConfig, data, RUNAWAY)


def store(
    cursor: duckdb.DuckDBPyConnection,
    detector: str,
    data: Mapping[str, Any] | None,
    now: dt.datetime,
) -> None:
    """Keep a detector's settings as given in the file (None: back to the defaults)."""
    cursor.execute("DELETE FROM detector_config WHERE detector = ?", [detector])
    if data:
        cursor.execute(
            "INSERT INTO detector_config VALUES (?, ?, ?)",
            [detector, json.dumps(data, default=str), now.replace(tzinfo=None)],
        )


def _stored(cursor: duckdb.DuckDBPyConnection, detector: str) -> Mapping[str, Any]:
    row = cursor.execute(
        "SELECT config FROM detector_config WHERE detector = ?", [detector]
    ).fetchone()
    return json.loads(row[0]) if row else {}


def load_anomaly_config(cursor: duckdb.DuckDBPyConnection) -> AnomalyConfig:
    return anomaly_config(_stored(cursor, ANOMALIES))


def load_runaway_config(cursor: duckdb.DuckDBPyConnection) -> RunawayConfig:
    return runaway_config(_stored(cursor, RUNAWAY))
