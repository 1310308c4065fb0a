"""The `reconciliation_gap` detector: bill against spans over the last days the bill covers.

On every run (the `reconciliation` job, at the detection interval) it reconciles the last
`window_days` UTC days before today that bills cover, sums each provider x model over them,
and records one `reconciliation_gap` signal for each whose gap is at least `min_gap_usd`
and `min_gap_share` of the billed dollars (without billed dollars: of our cost). A quiet
series records nothing, so its incident resolves once the gap is closed (a price override
added and the history re-priced, the missing service instrumented, a corrected bill).

Series: `reconciliation:provider=openai|model=gpt-4o-mini`; direction `up` when the bill
is higher than spendscope's cost, `down` when lower; impact: the gap in dollars over the
window. The details name the likely cause and each part's share of the gap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import duckdb

from warehouse.detection.signals import Kind, Signal, record_signals
from warehouse.reconciliation.compute import PARTS, ZERO, Row
from warehouse.reconciliation.config import ReconciliationConfig, load_reconciliation_config
from warehouse.reconciliation.load import reconciliation

NAME = "reconciliation"
KIND: Kind = "reconciliation_gap"


@dataclass
class ModelGap:
    """One provider x model summed over the window's days."""

    provider: str
    model: str
    days: list[dt.date] = field(default_factory=list)
    billed_usd: Decimal | None = None
    span_usd: Decimal = ZERO
    gap_usd: Decimal = ZERO
    parts: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(PARTS, ZERO))
    worst: Row | None = None  # the day with the largest gap: its explanation names the cause

    @property
    def share(self) -> Decimal | None:
        base = self.billed_usd if self.billed_usd is not None else self.span_usd
        return self.gap_usd / base if base else None

    @property
    def cause(self) -> str:
        return max(self.parts, key=lambda name: abs(self.parts[name]))

    def firing(self, config: ReconciliationConfig) -> bool:
        share = self.share
        return abs(self.gap_usd) >= config.min_gap_usd and (
            share is None or abs(share) >= config.min_gap_share
        )


def model_gaps(rows: Iterable[Row]) -> list[ModelGap]:
    gaps: dict[tuple[str, str], ModelGap] = {}
    for row in rows:
        gap = gaps.setdefault((row.provider, row.model), ModelGap(row.provider, row.model))
        gap.days.append(row.day)
        if row.billed_usd is not None:
            gap.billed_usd = (gap.billed_usd or ZERO) + row.billed_usd
        gap.span_usd += row.span_usd
        gap.gap_usd += row.gap_usd
        for name, value in row.parts.items():
            gap.parts[name] += value
        if gap.worst is None or abs(row.gap_usd) > abs(gap.worst.gap_usd):
            gap.worst = row
    return sorted(gaps.values(), key=lambda g: -abs(g.gap_usd))


def window(now: dt.datetime, config: ReconciliationConfig) -> tuple[dt.date, dt.date]:
    """[first, last) days: the `window_days` whole UTC days before `now`'s."""
    today = now.date()
    return today - dt.timedelta(days=config.window_days), today


def signal(gap: ModelGap, now: dt.datetime) -> Signal:
    share = gap.share
    billed = gap.billed_usd if gap.billed_usd is not None else gap.span_usd + gap.gap_usd
    cause = gap.cause.replace("_", " ")
    title = (
        f"Bill vs spans: {gap.provider} {gap.model} billed ${billed:,.2f}, spendscope "
        f"${gap.span_usd:,.2f} over {len(gap.days)} day(s)"
        + (f" ({share:+.1%})" if share is not None else "")
        + f": {cause}"
    )
    explanation = {
        name: float(value / gap.gap_usd)
        for name, value in gap.parts.items()
        if value and gap.gap_usd
    }
    return Signal(
        kind=KIND,
        series=f"reconciliation:provider={gap.provider}|model={gap.model}",
        direction="up" if gap.gap_usd >= 0 else "down",
        detected_at=now.replace(tzinfo=None),
        window_start=dt.datetime.combine(min(gap.days), dt.time()),
        window_end=dt.datetime.combine(max(gap.days) + dt.timedelta(days=1), dt.time()),
        actual_usd=billed,
        expected_usd=gap.span_usd,
        impact_usd=abs(gap.gap_usd),
        score=float(share) if share is not None else 0.0,
        title=title,
        details={
            "dimensions": {"provider": gap.provider, "model": gap.model},
            "cause": gap.cause,
            "hint": gap.worst.explanation if gap.worst else "",
            "billed_usd": str(billed),
            "span_usd": str(gap.span_usd),
            "gap_usd": str(gap.gap_usd),
            "gap_share": None if share is None else str(share.quantize(Decimal("0.0001"))),
            "days": len(gap.days),
            "explanation": explanation,
            "parts_usd": {k: str(v) for k, v in gap.parts.items() if v},
        },
    )


def run(cursor: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
    """The reconciliation job (housekeeping: it evaluates the bills held now)."""
    config = load_reconciliation_config(cursor)
    first, last = window(now.replace(tzinfo=None), config)
    gaps = model_gaps(reconciliation(cursor, first, last, config))
    return record_signals(cursor, [signal(g, now) for g in gaps if g.firing(config)])
