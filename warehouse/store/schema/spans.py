"""Spans as received, the model calls attributed across their trace, and the jobs' state."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from warehouse.store.schema.base import Base, ReportedMoney


class Span(Base):
    """Every span received, normalized. Model calls carry provider, model and tokens.

    Token rule (see docs/normalization.md): `input_tokens` counts all input tokens, cache
    reads and writes included; `cache_read_tokens` and `cache_write_tokens` are parts of it.
    `output_tokens` includes `reasoning_tokens`. So no token is ever counted twice.
    """

    __tablename__ = "spans"

    trace_id: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    span_id: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    parent_span_id: Mapped[bytes | None] = mapped_column(LargeBinary)
    batch_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    start_time: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    end_time: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    duration_ms: Mapped[float] = mapped_column(Double, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    status_code: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    status_message: Mapped[str | None] = mapped_column(Text)
    service: Mapped[str | None] = mapped_column(String)
    scope_name: Mapped[str | None] = mapped_column(String)
    is_model_call: Mapped[bool] = mapped_column(Boolean, nullable=False)
    is_usage_rollup: Mapped[bool] = mapped_column(Boolean, nullable=False)
    provider: Mapped[str | None] = mapped_column(String)
    operation: Mapped[str | None] = mapped_column(String)
    request_model: Mapped[str | None] = mapped_column(String)
    response_model: Mapped[str | None] = mapped_column(String)
    input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    cache_read_tokens: Mapped[int | None] = mapped_column(BigInteger)
    cache_write_tokens: Mapped[int | None] = mapped_column(BigInteger)
    reasoning_tokens: Mapped[int | None] = mapped_column(BigInteger)
    reported_cost_usd: Mapped[Decimal | None] = mapped_column(ReportedMoney)
    feature: Mapped[str | None] = mapped_column(String)
    feature_default: Mapped[str | None] = mapped_column(String)
    session_id: Mapped[str | None] = mapped_column(String)
    user_id: Mapped[str | None] = mapped_column(String)
    tenant_id: Mapped[str | None] = mapped_column(String)
    environment: Mapped[str | None] = mapped_column(String)
    agent_name: Mapped[str | None] = mapped_column(String)
    attributes: Mapped[str | None] = mapped_column(Text)
    resource_attributes: Mapped[str | None] = mapped_column(Text)
    events: Mapped[str | None] = mapped_column(Text)
    links: Mapped[str | None] = mapped_column(Text)
    # Added by migration 0019: priced parts beyond text tokens. `cache_write_1h_tokens` is part
    # of `cache_write_tokens`; audio and image tokens are parts of input / output tokens.
    cache_write_1h_tokens: Mapped[int | None] = mapped_column(BigInteger)
    input_audio_tokens: Mapped[int | None] = mapped_column(BigInteger)
    output_audio_tokens: Mapped[int | None] = mapped_column(BigInteger)
    input_image_tokens: Mapped[int | None] = mapped_column(BigInteger)
    output_image_tokens: Mapped[int | None] = mapped_column(BigInteger)
    # default / flex / priority / batch / scale, or NULL when the span names none.
    service_tier: Mapped[str | None] = mapped_column(String)
    web_search_calls: Mapped[int | None] = mapped_column(BigInteger)
    # What the normalizer had to assume (comma-separated codes, docs/normalization.md).
    pricing_assumption: Mapped[str | None] = mapped_column(String)
    # Streamed calls: start to first chunk, as the instrumentation measured it (0022).
    time_to_first_token_ms: Mapped[float | None] = mapped_column(Double)


class ModelCall(Base):
    """One priceable model call with the attribution dimensions it inherits from its trace.

    Written by the attribution job; rebuilt for a whole trace whenever a span of the trace
    arrives, so a root that arrives after its children still attributes them.
    """

    __tablename__ = "model_calls"

    trace_id: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    span_id: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    start_time: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    feature: Mapped[str | None] = mapped_column(String)
    session_id: Mapped[str | None] = mapped_column(String)
    user_id: Mapped[str | None] = mapped_column(String)
    tenant_id: Mapped[str | None] = mapped_column(String)
    environment: Mapped[str | None] = mapped_column(String)
    agent_name: Mapped[str | None] = mapped_column(String)
    attributed_batch_id: Mapped[int] = mapped_column(BigInteger, nullable=False)


class JobState(Base):
    """What each job has processed: its watermark (an ingest batch id) and when it last ran."""

    __tablename__ = "job_state"

    name: Mapped[str] = mapped_column(String, primary_key=True)
    watermark: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    runs: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)


class JobAttempt(Base):
    """The input range (low, high] a job is attempting and its failures there in a row,
    counted before the step runs (a crash counts); `suspect_high` ends the range still under
    suspicion while the job narrows a failing range down (warehouse.jobs.quarantine)."""

    __tablename__ = "job_attempts"

    name: Mapped[str] = mapped_column(String, primary_key=True)
    low: Mapped[int] = mapped_column(BigInteger, nullable=False)
    high: Mapped[int] = mapped_column(BigInteger, nullable=False)
    suspect_high: Mapped[int] = mapped_column(BigInteger, nullable=False)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)


class JobQuarantine(Base):
    """An input range (low, high] a job set aside after failing on it repeatedly."""

    __tablename__ = "job_quarantine"
    __table_args__ = (CheckConstraint("high > low", name="range"),)

    name: Mapped[str] = mapped_column(String, primary_key=True)
    low: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    high: Mapped[int] = mapped_column(BigInteger, nullable=False)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    quarantined_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
