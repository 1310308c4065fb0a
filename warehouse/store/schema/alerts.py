"""The alert lifecycle: incidents, the outbox and its delivery attempts, mutes and the policy."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Double, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from warehouse.store.schema.base import Base, id_key

_SEVERITIES = "('info', 'warning', 'critical')"


class AlertIncident(Base):
    """One episode of a series firing: (kind, series, direction) opened by a signal, updated in
    place by the next ones, resolved after a quiet time, reopened within its cooldown. See
    `warehouse/incidents/lifecycle.py`."""

    __tablename__ = "alert_incidents"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'resolved')", name="status"),
        CheckConstraint(f"severity IN {_SEVERITIES}", name="severity"),
    )

    id: Mapped[int] = id_key("alert_incidents")
    kind: Mapped[str] = mapped_column(String, nullable=False)
    series: Mapped[str] = mapped_column(String, nullable=False)
    direction: Mapped[str] = mapped_column(String, nullable=False)
    tenant_id: Mapped[str | None] = mapped_column(String)
    status: Mapped[str] = mapped_column(String, nullable=False)
    severity: Mapped[str] = mapped_column(String, nullable=False)  # of the peak impact
    title: Mapped[str] = mapped_column(String, nullable=False)
    dedup_key: Mapped[str] = mapped_column(String, nullable=False)  # stable per series
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    last_signal_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    first_signal_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_signal_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    signal_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    reopen_count: Mapped[int] = mapped_column(Integer, nullable=False)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    window_end: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    actual_usd: Mapped[Decimal] = mapped_column(Numeric(38, 12), nullable=False)
    expected_usd: Mapped[Decimal] = mapped_column(Numeric(38, 12), nullable=False)
    impact_usd: Mapped[Decimal] = mapped_column(Numeric(38, 12), nullable=False)
    peak_impact_usd: Mapped[Decimal] = mapped_column(Numeric(38, 12), nullable=False)
    score: Mapped[float] = mapped_column(Double, nullable=False)
    details: Mapped[str] = mapped_column(Text, nullable=False)
    # The highest severity sent (or suppressed by a mute / acknowledgement) so far.
    notified_severity: Mapped[str | None] = mapped_column(String)
    suppressed_severity: Mapped[str | None] = mapped_column(String)
    # Channels holding an alert that a resolve must close (comma-separated).
    notified_channels: Mapped[str] = mapped_column(String, nullable=False)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String)
    # The group's first incident: it holds the shared page (dedup key, what was sent).
    group_id: Mapped[int | None] = mapped_column(BigInteger)


class AlertOutbox(Base):
    """What must be sent to which channel, decided in the lifecycle job's transaction and
    sent by the collector's dispatcher. `snapshot` is the incident as it was decided."""

    __tablename__ = "alert_outbox"
    __table_args__ = (
        CheckConstraint("channel IN ('slack', 'pagerduty', 'webhook')", name="channel"),
        CheckConstraint("event IN ('trigger', 'resolve', 'acknowledge')", name="event"),
        CheckConstraint("status IN ('pending', 'sent', 'failed', 'suppressed')", name="status"),
    )

    id: Mapped[int] = id_key("alert_outbox")
    incident_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    channel: Mapped[str] = mapped_column(String, nullable=False)
    event: Mapped[str] = mapped_column(String, nullable=False)
    severity: Mapped[str] = mapped_column(String, nullable=False)
    status: Mapped[str] = mapped_column(String, nullable=False)
    note: Mapped[str | None] = mapped_column(String)
    snapshot: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String)


class AlertDelivery(Base):
    """Every delivery attempt of an outbox row and its outcome (secrets never stored)."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (CheckConstraint("outcome IN ('sent', 'retry', 'failed')", name="outcome"),)

    id: Mapped[int] = id_key("alert_deliveries")
    outbox_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    incident_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    channel: Mapped[str] = mapped_column(String, nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    duration_ms: Mapped[float] = mapped_column(Double, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String, nullable=False)
    error: Mapped[str | None] = mapped_column(String)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class AlertMute(Base):
    """A series muted until a time: its incidents still record, nothing is sent."""

    __tablename__ = "alert_mutes"

    id: Mapped[int] = id_key("alert_mutes")
    series: Mapped[str] = mapped_column(String, nullable=False)
    tenant_id: Mapped[str | None] = mapped_column(String)  # None: every tenant's series
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    until: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    reason: Mapped[str | None] = mapped_column(String)


class AlertPolicyRow(Base):
    """The alert policy the serving process runs with (thresholds, quiet times, routes and
    which channels are configured; never a secret), as JSON. See `warehouse/incidents/policy.py`."""

    __tablename__ = "alert_policy"

    name: Mapped[str] = mapped_column(String, primary_key=True)
    policy: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
