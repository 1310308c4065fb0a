"""Business outcomes as reported, and the business keys that tie later outcomes to a trace."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from warehouse.store.schema.base import Base


class Outcome(Base):
    """A business outcome an app reported ("ticket_resolved"): what value units count.

    From a span event, span attributes, an OTLP log record or `POST /api/v1/outcomes`
    (docs/value-units.md). `outcome_id` is deterministic, so a re-sent outcome is stored
    once. The session, trace, feature and tenant are what the outcome declared; the rest is
    resolved through its trace and business key when read (`warehouse/queries/outcomes.py`).
    `seq` is the ingest sequence for downstream watermarks: NULL until the sequencer numbers
    the row, then increasing in commit order.
    """

    __tablename__ = "outcomes"
    __table_args__ = (
        CheckConstraint("source IN ('span_event', 'span_attribute', 'log', 'api')", name="source"),
        CheckConstraint("count >= 0", name="count"),
    )

    outcome_id: Mapped[str] = mapped_column(String, primary_key=True)
    seq: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String, nullable=False)
    name: Mapped[str] = mapped_column(String, nullable=False)
    count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    success: Mapped[bool | None] = mapped_column(Boolean)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    trace_id: Mapped[bytes | None] = mapped_column(LargeBinary)
    span_id: Mapped[bytes | None] = mapped_column(LargeBinary)
    session_id: Mapped[str | None] = mapped_column(String)
    business_key: Mapped[str | None] = mapped_column(String)
    feature: Mapped[str | None] = mapped_column(String)
    tenant_id: Mapped[str | None] = mapped_column(String)
    client_id: Mapped[str | None] = mapped_column(String)
    attributes: Mapped[str | None] = mapped_column(Text)


class OutcomeKeyLink(Base):
    """A span that carried `spendscope.outcome.key`: ties that business key to its trace
    (and the span's own session, feature and tenant), so outcomes reported later with only
    the key are attributed. Written by the outcomes job."""

    __tablename__ = "outcome_key_links"

    business_key: Mapped[str] = mapped_column(String, primary_key=True)
    trace_id: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    span_id: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    session_id: Mapped[str | None] = mapped_column(String)
    feature: Mapped[str | None] = mapped_column(String)
    tenant_id: Mapped[str | None] = mapped_column(String)
    linked_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
