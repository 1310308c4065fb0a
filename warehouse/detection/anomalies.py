"""The spend-anomaly detector: every spend series, scored against its seasonal baseline.

A run (every `SPENDSCOPE_DETECTION_INTERVAL_SECONDS`) reads the hourly spend of every
series (`warehouse.detection.series`) over the weeks its baseline needs, scores the last
complete hour and the hour under way (its spend so far projected to the full hour, once
`min_partial_share` of it has passed), per hour and per trailing 24 hours
(`warehouse.detection.baseline`), and records one `spend_anomaly` signal per firing series, with
what
caused the excess (`warehouse.detection.explain`).

Series keys: `spend:hour:<dimensions>`, `spend:day:<dimensions>` and `spend:call:<dimensions>`
(the cost per call, `warehouse.detection.per_call`), e.g.
`spend:hour:feature=search|model=openai/gpt-4o`. impact_usd: the hourly excess over
`impact_hours` (24: a day of it); for the trailing day, its excess.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from warehouse.detection import explain as spend_explain
from warehouse.detection import per_call
from warehouse.detection import state as spend_state
from warehouse.detection.baseline import HOURS_PER_WEEK
from warehouse.detection.config import AnomalyConfig, load_anomaly_config
from warehouse.detection.series import series_filter, window_spend
from warehouse.detection.signals import Signal, record_signals

NAME = "anomalies"
log = logging.getLogger(__name__)
HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Grain:
    name: str  # in the series key
    window: int  # hours summed
    label: str
    per_call: bool = False  # the cost per call (`warehouse.detection.per_call`), not spend


CAUSES = {
    "calls": "more calls",
    "model_mix": "a shift to pricier models",
    "tokens_per_call": "more tokens per call",
    "cache": "fewer cache hits",
    "other": "prices or more output per input",
}
GRAINS = (Grain("hour", 1, "hour"), Grain("day", 24, "24 hours"))
PER_CALL = Grain("call", per_call.PER_CALL.window_hours, "3 hours", per_call=True)


def history_hours(config: AnomalyConfig) -> int:
    """How many hours before the evaluated ones the baseline reads."""
    return settings(config).history_hours()


def settings(config: AnomalyConfig) -> spend_state.Settings:
    return spend_state.Settings(config.baseline, config.hour, config.day)


def detect(
    cursor: duckdb.DuckDBPyConnection, now: dt.datetime, config: AnomalyConfig
) -> list[Signal]:
    """The series firing at `now`: at most one signal per series and grain. Brings the
    detector's state (`warehouse.detection.state`) up to the last complete hour first."""
    now = now.replace(tzinfo=None)
    current = now.replace(minute=0, second=0, microsecond=0)
    share = (now - current) / HOUR
    partial = share >= config.min_partial_share
    state = settings(config)
    spend_state.refresh(cursor, current, state)
    scored: dict[str, list[pl.DataFrame]] = {grain.name: [] for grain in GRAINS}
    for hour in (current - HOUR, current) if partial else (current - HOUR,):
        spent = spend_state.spend(cursor, hour)
        if hour == current:  # the hour under way, projected to the full hour
            spent = spent.with_columns(pl.col("actual") / share)
        for name, rows in spend_state.score_hour(cursor, hour, spent, state).items():
            scored[name].append(rows)
    firing = [
        Firing(grain, row, share if partial and row["hour"] == current else 1.0)
        for grain in GRAINS
        for row in _last_firing(pl.concat(scored[grain.name]))
    ]
    # The cost per call: the hour under way as spent so far (a ratio needs no projection).
    hours = [current - HOUR, current] if partial else [current - HOUR]
    calls = per_call.score_live(cursor, hours, config.per_call)
    call_grain = Grain("call", config.per_call.window_hours, PER_CALL.label, per_call=True)
    firing += [Firing(call_grain, row, 1.0) for row in _last_firing(calls)]
    spends = window_spend(cursor, [(f.dimensions, f.window_start, f.window_end) for f in firing])
    # Explaining is a few queries per series: when many fire at once (a price change
    # across a model's series), only the largest impacts are explained.
    by_impact = sorted(range(len(firing)), key=lambda i: -abs(firing[i].impact(config)))
    explained = set(by_impact[: config.explain_limit]) if config.explain else set()
    return [
        _signal(cursor, f, spends[i], config, now, explain=i in explained, firing_count=len(firing))
        for i, f in enumerate(firing)
    ]


def _last_firing(scored: pl.DataFrame) -> list[dict[str, Any]]:
    """Per series key, its latest firing row."""
    if scored.is_empty():
        return []
    return (
        scored.filter(pl.col("fires").is_not_null())
        .sort("hour")
        .group_by("key")
        .last()
        .sort("key")
        .to_dicts()
    )


@dataclass(frozen=True)
class Firing:
    """One series' firing row (`warehouse.detection.baseline` columns and its dimensions) at a
    grain;
    `share` < 1 when its last hour is the hour under way."""

    grain: Grain
    row: dict[str, Any]
    share: float

    @property
    def window_end(self) -> dt.datetime:
        end: dt.datetime = self.row["hour"] + HOUR
        return end

    @property
    def window_start(self) -> dt.datetime:
        return self.window_end - self.grain.window * HOUR

    @property
    def dimensions(self) -> dict[str, Any]:
        return {k: self.row[k] for k in ("feature", "model", "tenant") if self.row[k] is not None}

    def impact(self, config: AnomalyConfig) -> float:
        """The excess over `impact_hours` for an hour or the cost per call (its hourly
        excess), the excess itself for a day."""
        excess: float = self.row["value"] - self.row["expected"]
        if self.grain.per_call:
            return excess / self.grain.window * config.impact_hours
        return excess * (config.impact_hours if self.grain.window == 1 else 1)


def _usd(value: float) -> Decimal:
    return Decimal(repr(round(value, 6)))


def against_usual(expected: float, ratio: float | None) -> str:
    """The spend beside its baseline, for a title: "3.2x the usual $12.40"; a baseline of
    nothing, or of less than a cent, says so instead of "Nonex the usual $0.00"."""
    if ratio is None or expected <= 0:
        return "where nothing is usually spent"
    if expected < 0.005:
        return "against a usual of under $0.01"
    return f"{ratio}x the usual ${expected:,.2f}"


def _signal(
    cursor: duckdb.DuckDBPyConnection,
    firing: Firing,
    spent: Decimal,
    config: AnomalyConfig,
    now: dt.datetime,
    *,
    explain: bool,
    firing_count: int,
) -> Signal:
    """One firing series, with its exact spend so far (`spent`), explained when `explain`."""
    row, grain, share = firing.row, firing.grain, firing.share
    window_start, window_end = firing.window_start, firing.window_end
    dimensions = firing.dimensions
    # Figures so far: with the hour under way, its expected part is pro rata.
    in_progress = (1 - share) if share < 1 else 0.0
    expected = row["expected"] * (1 - in_progress / grain.window)
    impact = firing.impact(config)
    direction = row["fires"]
    key = f"spend:{grain.name}:{row['key']}"
    details: dict[str, Any] = {
        "grain": grain.name,
        "dimensions": dimensions,
        "value_usd": round(row["value"], 6),
        "expected_usd": round(row["expected"], 6),
        "ratio": round(row["value"] / row["expected"], 3) if row["expected"] else None,
        "score": round(row["score"], 2),
        "cold_start": row.get("cold", False),
        "projected_from_share": round(share, 3) if share < 1 else None,
    }
    if grain.per_call:
        details["calls"] = int(row["calls"])
        details["cost_per_call_usd"] = round(row["value"] / row["calls"], 6)
        details["usual_cost_per_call_usd"] = round(row["expected"] / row["calls"], 6)
    if explain:
        condition, params = series_filter(dimensions)
        # The windows the usual came from: the same hours a day and a week (cost per
        # call) or 1-`weeks` weeks (spend) before.
        lags = (
            per_call.LAGS
            if grain.per_call
            else tuple(k * HOURS_PER_WEEK for k in range(1, config.baseline.weeks + 1))
        )
        references = [(window_start - lag * HOUR, window_end - lag * HOUR) for lag in lags]
        try:
            details["explanation"] = spend_explain.explain(
                cursor, condition, params, (window_start, window_end), references, expected
            )
        except (ArithmeticError, ValueError) as exc:
            # The anomaly stands without its explanation: a failure here must not take
            # every other series' alert down with it.
            log.exception("could not explain the anomaly of %s", key)
            details["explanation_error"] = f"{type(exc).__name__}: {exc}"
    elif config.explain:
        details["explanation_skipped"] = (
            f"{firing_count} series fired in this run; the {config.explain_limit} with the "
            "largest impact are explained"
        )
    cause = details.get("explanation", {}).get("main_cause")
    because = CAUSES.get(cause, "") if direction == "up" else ""
    title = _title(row, grain, details, window_end) + (f", mostly {because}" if because else "")
    return Signal(
        kind="spend_anomaly",
        series=key,
        direction=direction,
        detected_at=now,
        window_start=window_start,
        window_end=window_end,
        actual_usd=spent,
        expected_usd=_usd(max(expected, 0.0)),
        impact_usd=_usd(abs(impact)),
        score=float(row["score"]),
        title=title,
        tenant_id=row["tenant"] if row["tenant"] not in (None, "(none)") else None,
        details=details,
    )


def _title(
    row: dict[str, Any], grain: Grain, details: dict[str, Any], window_end: dt.datetime
) -> str:
    if grain.per_call:
        return (
            f"Cost per call up: {row['key']} ${details['cost_per_call_usd']:,.4f} a call in the "
            f"{grain.label} to {window_end:%H:%M} UTC ({details['calls']:,} calls), "
            f"{details['ratio']}x the usual ${details['usual_cost_per_call_usd']:,.4f}"
        )
    return (
        f"Spend {row['fires']}: {row['key']} ${row['value']:,.2f} in the {grain.label} to "
        f"{window_end:%H:%M} UTC, {against_usual(row['expected'], details['ratio'])}"
    )


def run(cursor: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
    """The anomalies job (housekeeping: it evaluates now, not new batches)."""
    return record_signals(cursor, detect(cursor, now, load_anomaly_config(cursor)))
