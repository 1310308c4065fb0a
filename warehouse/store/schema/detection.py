"""The detectors' side: the spend-anomaly state, the signals they write, budgets and detector
thresholds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    Integer,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from warehouse.store.schema.base import Base, id_key

# The spend-anomaly detector's state (warehouse/detection/state.py, migration 0011): derived
# data, rebuilt from rollup_hourly whenever it cannot be brought up to date.
spend_state_series = Table(
    "spend_state_series",
    Base.metadata,
    Column("series", Integer, nullable=False),
    Column("key", String, nullable=False),
    Column("feature", String),
    Column("model", String),
    Column("tenant", String),
    Column("first_hour", DateTime, nullable=False),
    Column("last_hour", DateTime, nullable=False),
)

spend_state_hours = Table(
    "spend_state_hours",
    Base.metadata,
    Column("hour", DateTime, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("config", String, nullable=False),
    Column("stats", Boolean, nullable=False),
)

spend_state = Table(
    "spend_state",
    Base.metadata,
    Column("series", Integer, nullable=False),
    Column("hour", DateTime, nullable=False),
    Column("actual", Double, nullable=False),
    *(
        Column(f"{name}_{grain}", Double)
        for grain in ("hour", "day")
        for name in ("value", "residual", "deviation", "next_recent", "next_level", "next_mad")
    ),
    Column("next_active", Double),
)


class AlertSignal(Base):
    """One series firing at one detector run (written by the detectors, read by the alert
    lifecycle after its watermark on `id`); a quiet series writes nothing. See
    `warehouse/detection/signals.py`."""

    __tablename__ = "alert_signals"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('spend_anomaly', 'runaway_session', 'budget', 'reconciliation_gap')",
            name="kind",
        ),
        CheckConstraint("direction IN ('up', 'down')", name="direction"),
    )

    id: Mapped[int] = id_key("alert_signals")
    kind: Mapped[str] = mapped_column(String, nullable=False)
    series: Mapped[str] = mapped_column(String, nullable=False)
    direction: Mapped[str] = mapped_column(String, nullable=False)
    detected_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    window_end: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    actual_usd: Mapped[Decimal] = mapped_column(Numeric(38, 12), nullable=False)
    expected_usd: Mapped[Decimal] = mapped_column(Numeric(38, 12), nullable=False)
    impact_usd: Mapped[Decimal] = mapped_column(Numeric(38, 12), nullable=False)
    score: Mapped[float] = mapped_column(Double, nullable=False)
    tenant_id: Mapped[str | None] = mapped_column(String)
    title: Mapped[str] = mapped_column(String, nullable=False)
    details: Mapped[str] = mapped_column(Text, nullable=False)


class Budget(Base):
    """A spend budget (migration 0007), loaded from the detection file; see
    `warehouse/detection/budgets.py`. `thresholds`: percentages of the amount, comma-separated."""

    __tablename__ = "budgets"
    __table_args__ = (
        CheckConstraint("scope IN ('total', 'feature', 'tenant')", name="scope"),
        CheckConstraint("period IN ('day', 'month')", name="period"),
    )

    name: Mapped[str] = mapped_column(String, primary_key=True)
    scope: Mapped[str] = mapped_column(String, nullable=False)
    scope_value: Mapped[str | None] = mapped_column(String)
    period: Mapped[str] = mapped_column(String, nullable=False)
    amount_usd: Mapped[Decimal] = mapped_column(Numeric(38, 12), nullable=False)
    thresholds: Mapped[str] = mapped_column(String, nullable=False)
    forecast: Mapped[bool] = mapped_column(Boolean, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)


class DetectorConfig(Base):
    """A detector's thresholds as JSON (migration 0007), from the detection file; a detector
    without a row runs on its defaults. See `warehouse/detection/config.py`."""

    __tablename__ = "detector_config"

    detector: Mapped[str] = mapped_column(String, primary_key=True)
    config: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
