"""The warehouse schema as SQLAlchemy 2 models.

The tables are created by the hand-written Alembic migrations in `migrations/`, never by
`create_all`; these models are the typed description that queries and tests refer to, and
`tests/test_migrations.py` checks that the two agree.

Conventions: times are UTC (`TIMESTAMP` holds UTC wall time); token counts are BIGINT;
money is DECIMAL, never float. A span's identity is (trace_id, span_id), both raw bytes.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Double,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    Sequence,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Reported costs arrive as floats from instrumentations; kept at 10 decimal places.
ReportedMoney = Numeric(20, 10)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


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


# Prices are per million tokens. The catalog has prices with 18 decimal places (float
# artifacts such as 0.18000000000000002 kept as published), so 18 places hold any exactly.
PricePerMTok = Numeric(38, 18)
# A call's cost: tokens x an 18-place per-MTok price / 10^6 needs 24 places to stay exact
# (14 integer digits: sums up to $10^14 before DuckDB's 38-digit DECIMAL overflows).
Money = Numeric(38, 24)


class PriceOverride(Base):
    """A user's own price (negotiated, batch, fine-tuned, self-hosted), from the price file or
    the API. Overrides win over the catalog; see `warehouse.pricing.pricebook` for the
    precedence."""

    __tablename__ = "price_overrides"
    __table_args__ = (
        CheckConstraint("match_kind IN ('exact', 'glob', 'regex')", name="match_kind"),
        CheckConstraint("source IN ('file', 'api')", name="source"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger,
        Sequence("price_overrides_id_seq"),
        primary_key=True,
        server_default=text("nextval('price_overrides_id_seq')"),
    )
    provider: Mapped[str] = mapped_column(String, nullable=False)
    model_pattern: Mapped[str] = mapped_column(String, nullable=False)
    match_kind: Mapped[str] = mapped_column(String, nullable=False)
    input_mtok: Mapped[Decimal] = mapped_column(PricePerMTok, nullable=False)
    cache_read_mtok: Mapped[Decimal | None] = mapped_column(PricePerMTok)
    cache_write_mtok: Mapped[Decimal | None] = mapped_column(PricePerMTok)
    output_mtok: Mapped[Decimal] = mapped_column(PricePerMTok, nullable=False)
    reasoning_mtok: Mapped[Decimal | None] = mapped_column(PricePerMTok)
    effective_from: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    source: Mapped[str] = mapped_column(String, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)


class PriceKey(Base):
    """A (provider, model) as seen in spans, and the catalog model it resolved to (if any)
    under the price book whose fingerprint is recorded."""

    __tablename__ = "price_keys"

    provider: Mapped[str] = mapped_column(String, primary_key=True)
    model: Mapped[str] = mapped_column(String, primary_key=True)
    catalog_provider: Mapped[str | None] = mapped_column(String)
    catalog_model: Mapped[str | None] = mapped_column(String)
    book_fingerprint: Mapped[str] = mapped_column(String, nullable=False)
    resolved_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)


class PricePeriod(Base):
    """The resolved price of a price key over [effective_from, effective_to) (NULL: open)
    for calls whose total input tokens fall in [min_input_tokens, max_input_tokens)
    (a tier band) and, when `time_of_day_from`/`time_of_day_to` are set, whose UTC time of
    day falls in [from, to) (NULL: unbounded on that side; off-peak prices). Rates are per
    million tokens with every fallback already applied; `requests_kcount` per 1,000 calls.

    Rows are never deleted: when a key's prices change its rows are retired (`retired_at`)
    and new ones written, so a call keeps pointing at the period that priced it."""

    __tablename__ = "price_periods"
    __table_args__ = (CheckConstraint("source IN ('catalog', 'override')", name="source"),)

    id: Mapped[int] = mapped_column(
        BigInteger,
        Sequence("price_periods_id_seq"),
        primary_key=True,
        server_default=text("nextval('price_periods_id_seq')"),
    )
    provider: Mapped[str] = mapped_column(String, nullable=False)
    model: Mapped[str] = mapped_column(String, nullable=False)
    effective_from: Mapped[dt.datetime | None] = mapped_column(DateTime)
    effective_to: Mapped[dt.datetime | None] = mapped_column(DateTime)
    time_of_day_from: Mapped[dt.time | None] = mapped_column(Time)
    time_of_day_to: Mapped[dt.time | None] = mapped_column(Time)
    min_input_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False)
    max_input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String, nullable=False)
    override_id: Mapped[int | None] = mapped_column(BigInteger)
    catalog_provider: Mapped[str | None] = mapped_column(String)
    catalog_model: Mapped[str | None] = mapped_column(String)
    input_mtok: Mapped[Decimal] = mapped_column(PricePerMTok, nullable=False)
    cache_read_mtok: Mapped[Decimal] = mapped_column(PricePerMTok, nullable=False)
    cache_write_mtok: Mapped[Decimal] = mapped_column(PricePerMTok, nullable=False)
    output_mtok: Mapped[Decimal] = mapped_column(PricePerMTok, nullable=False)
    reasoning_mtok: Mapped[Decimal] = mapped_column(PricePerMTok, nullable=False)
    requests_kcount: Mapped[Decimal] = mapped_column(PricePerMTok, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class CallCost(Base):
    """The cost of one model call (NULL and `priced` false when no price matched), with the
    price period that priced it and the cost the instrumentation reported, kept beside.

    `priced_seq` increases whenever the row's cost or attribution changes: downstream jobs
    use it as their watermark (see `warehouse.pricing.job`)."""

    __tablename__ = "call_costs"

    trace_id: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    span_id: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    start_time: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    provider: Mapped[str] = mapped_column(String, nullable=False)
    model: Mapped[str] = mapped_column(String, nullable=False)
    priced: Mapped[bool] = mapped_column(Boolean, nullable=False)
    unpriced_reason: Mapped[str | None] = mapped_column(String)
    cost_usd: Mapped[Decimal | None] = mapped_column(Money)
    input_cost_usd: Mapped[Decimal | None] = mapped_column(Money)
    cache_read_cost_usd: Mapped[Decimal | None] = mapped_column(Money)
    cache_write_cost_usd: Mapped[Decimal | None] = mapped_column(Money)
    output_cost_usd: Mapped[Decimal | None] = mapped_column(Money)
    request_cost_usd: Mapped[Decimal | None] = mapped_column(Money)
    price_period_id: Mapped[int | None] = mapped_column(BigInteger)
    price_source: Mapped[str | None] = mapped_column(String)
    override_id: Mapped[int | None] = mapped_column(BigInteger)
    reported_cost_usd: Mapped[Decimal | None] = mapped_column(ReportedMoney)
    attributed_batch_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    priced_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    priced_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    # The cache-read tokens at the full input price, minus what they cost (0 without cache
    # reads or a token price). Last: added by migration 0013.
    cache_savings_usd: Mapped[Decimal | None] = mapped_column(Money)


class RepriceRequest(Base):
    """Re-price the calls of one price key that started at or after `from_time` (NULL: all).
    Queued when the price book changes; done by the pricing job, which records the count."""

    __tablename__ = "reprice_requests"

    id: Mapped[int] = mapped_column(
        BigInteger,
        Sequence("reprice_requests_id_seq"),
        primary_key=True,
        server_default=text("nextval('reprice_requests_id_seq')"),
    )
    provider: Mapped[str] = mapped_column(String, nullable=False)
    model: Mapped[str] = mapped_column(String, nullable=False)
    from_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    calls_repriced: Mapped[int | None] = mapped_column(BigInteger)


# Assigns `call_costs.priced_seq`: one value per pricing transaction.
PRICED_SEQ = Sequence("call_costs_priced_seq")


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


# Rollups (written by warehouse/rollups/job.py). Rows are rebuilt by group (the job keeps one row
# per key), so they have no primary key (an index DuckDB would maintain on every rebuild,
# migration 0005) and are described as Core tables rather than ORM classes. Their unique ids
# and DECIMAL(38, 24) money are stored uncompressed (migration 0012: cheaper to write).
def _usage_columns() -> list[Column[object]]:
    return [
        Column("calls", BigInteger, nullable=False),
        Column("unpriced_calls", BigInteger, nullable=False),
        Column("error_calls", BigInteger, nullable=False),
        Column("input_tokens", BigInteger, nullable=False),
        Column("output_tokens", BigInteger, nullable=False),
        Column("cache_read_tokens", BigInteger, nullable=False),
        Column("cache_write_tokens", BigInteger, nullable=False),
        Column("reasoning_tokens", BigInteger, nullable=False),
        Column("cost_usd", Numeric(38, 24), nullable=False),
        Column("reported_cost_usd", Numeric(38, 10)),
        Column("cache_savings_usd", Numeric(38, 24), nullable=False),
        Column("first_call_at", DateTime, nullable=False),
        Column("last_call_at", DateTime, nullable=False),
    ]


def _dimension_columns() -> list[Column[object]]:
    """The dimensions of the hourly and daily rollups."""
    return [
        Column("feature", String),
        Column("provider", String, nullable=False),
        Column("model", String, nullable=False),
        Column("tenant_id", String),
        Column("environment", String),
        Column("agent_name", String),
    ]


rollup_hourly = Table(
    "rollup_hourly",
    Base.metadata,
    Column("hour", DateTime, nullable=False),
    *_dimension_columns(),
    *_usage_columns(),
)

rollup_daily = Table(
    "rollup_daily",
    Base.metadata,
    Column("day", Date, nullable=False),
    *_dimension_columns(),
    *_usage_columns(),
)

rollup_feature_daily = Table(
    "rollup_feature_daily",
    Base.metadata,
    Column("day", Date, nullable=False),
    Column("feature", String),
    *_usage_columns(),
)

rollup_sessions = Table(
    "rollup_sessions",
    Base.metadata,
    Column("session_id", String, nullable=False),
    Column("feature", String),
    Column("user_id", String),
    Column("tenant_id", String),
    Column("environment", String),
    Column("traces", BigInteger, nullable=False),
    *_usage_columns(),
)

# One row per trace and (session, user, tenant, day): nearly always one per trace. The
# sessions and user-days are summed from these rows (migration 0010).
rollup_traces = Table(
    "rollup_traces",
    Base.metadata,
    Column("trace_id", LargeBinary, nullable=False),
    Column("session_id", String),
    Column("user_id", String),
    Column("tenant_id", String),
    Column("day", Date, nullable=False),
    Column("feature", String),
    Column("environment", String),
    *_usage_columns(),
)

# The hours the rollups job rebuilt, and the priced_seq it rebuilt them at (migration 0011):
# the anomaly detector's state (warehouse/detection/state.py) derives such hours again.
rollup_hour_versions = Table(
    "rollup_hour_versions",
    Base.metadata,
    Column("hour", DateTime, nullable=False),
    Column("version", BigInteger, nullable=False),
)

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

rollup_users = Table(
    "rollup_users",
    Base.metadata,
    Column("day", Date, nullable=False),
    Column("user_id", String, nullable=False),
    Column("tenant_id", String),
    Column("sessions", BigInteger, nullable=False),
    *_usage_columns(),
)


class AlertSignal(Base):
    """One series firing at one detector run (written by the detectors, read by the alert
    lifecycle after its watermark on `id`); a quiet series writes nothing. See
    `warehouse/detection/signals.py`."""

    __tablename__ = "alert_signals"
    __table_args__ = (
        CheckConstraint("kind IN ('spend_anomaly', 'runaway_session', 'budget')", name="kind"),
        CheckConstraint("direction IN ('up', 'down')", name="direction"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger,
        Sequence("alert_signals_id_seq"),
        primary_key=True,
        server_default=text("nextval('alert_signals_id_seq')"),
    )
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


def _alert_id(table: str) -> Mapped[int]:
    return mapped_column(
        BigInteger,
        Sequence(f"{table}_id_seq"),
        primary_key=True,
        server_default=text(f"nextval('{table}_id_seq')"),
    )


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

    id: Mapped[int] = _alert_id("alert_incidents")
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


class AlertOutbox(Base):
    """What must be sent to which channel, decided in the lifecycle job's transaction and
    sent by the collector's dispatcher. `snapshot` is the incident as it was decided."""

    __tablename__ = "alert_outbox"
    __table_args__ = (
        CheckConstraint("channel IN ('slack', 'pagerduty', 'webhook')", name="channel"),
        CheckConstraint("event IN ('trigger', 'resolve', 'acknowledge')", name="event"),
        CheckConstraint("status IN ('pending', 'sent', 'failed', 'suppressed')", name="status"),
    )

    id: Mapped[int] = _alert_id("alert_outbox")
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

    id: Mapped[int] = _alert_id("alert_deliveries")
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

    id: Mapped[int] = _alert_id("alert_mutes")
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


# ---- GPU efficiency (migration 0009; docs/gpu.md) ------------------------------------------
# Money here is integer nano-dollars (BIGINT): GPU-hour cost involves division (by 3,600,000
# ms, by a utilization share, over the calls of an hour), which DECIMAL would turn into float.

metric_points = Table(
    "metric_points",
    Base.metadata,
    Column("stream_id", BigInteger, primary_key=True),
    Column("time_unix_nano", BigInteger, primary_key=True),
    Column("time", DateTime, nullable=False),
    Column("start_time", DateTime),
    Column("metric", String, nullable=False),
    Column("signal", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("cumulative", Boolean, nullable=False),
    Column("value", Double, nullable=False),
    Column("count", BigInteger),
    Column("deployment", String),
    Column("gpu_id", String),
    Column("gpu_model", String),
    Column("node_pool", String),
    Column("served_model", String),
    Column("server_address", String),
    Column("token_type", String),
    Column("attributes", Text),
    Column("batch_id", BigInteger, nullable=False),
    Column("received_at", DateTime, nullable=False),
    CheckConstraint("kind IN ('gauge', 'sum', 'histogram')", name="kind"),
)

gpu_prices = Table(
    "gpu_prices",
    Base.metadata,
    Column(
        "id",
        BigInteger,
        Sequence("gpu_prices_id_seq"),
        primary_key=True,
        server_default=text("nextval('gpu_prices_id_seq')"),
    ),
    Column("scope", String, nullable=False),
    Column("match", String, nullable=False),
    Column("pricing", String, nullable=False),
    Column("usd_per_gpu_hour", Numeric(38, 9), nullable=False),
    Column("purchase_usd", Numeric(38, 9)),
    Column("amortization_months", Integer),
    Column("effective_from", DateTime, nullable=False),
    Column("source", String, nullable=False),
    Column("note", Text),
    Column("created_at", DateTime, nullable=False),
    CheckConstraint("scope IN ('gpu_model', 'node_pool', 'deployment')", name="scope"),
    CheckConstraint("pricing IN ('on_demand', 'reserved', 'owned')", name="pricing"),
    CheckConstraint("source IN ('file', 'api')", name="source"),
)

gpu_config = Table(
    "gpu_config",
    Base.metadata,
    Column("name", String, primary_key=True),
    Column("value", Text, nullable=False),
)

gpu_hourly = Table(
    "gpu_hourly",
    Base.metadata,
    Column("hour", DateTime, nullable=False),
    Column("deployment", String),
    Column("gpu_id", String, nullable=False),
    Column("gpu_model", String),
    Column("node_pool", String),
    Column("utilization_source", String, nullable=False),
    Column("gpu_ms", BigInteger, nullable=False),
    Column("busy_ms", BigInteger, nullable=False),
    Column("price_id", BigInteger),
    Column("usd_per_gpu_hour", Numeric(38, 9)),
    Column("cost_nanos", BigInteger),
    Column("idle_cost_nanos", BigInteger),
)

gpu_deployment_hourly = Table(
    "gpu_deployment_hourly",
    Base.metadata,
    Column("hour", DateTime, nullable=False),
    Column("deployment", String),
    Column("gpus", BigInteger, nullable=False),
    Column("gpu_ms", BigInteger, nullable=False),
    Column("busy_ms", BigInteger, nullable=False),
    Column("unpriced_gpu_ms", BigInteger, nullable=False),
    Column("cost_nanos", BigInteger, nullable=False),
    Column("idle_cost_nanos", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("generation_tokens", BigInteger, nullable=False),
    Column("requests_running", Double),
    Column("requests_waiting", Double),
    Column("kv_cache_usage", Double),
)

gpu_endpoints = Table(
    "gpu_endpoints",
    Base.metadata,
    Column("hour", DateTime, nullable=False),
    Column("deployment", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("value", String, nullable=False),
)

gpu_dirty_hours = Table("gpu_dirty_hours", Base.metadata, Column("hour", DateTime, nullable=False))

gpu_call_costs = Table(
    "gpu_call_costs",
    Base.metadata,
    Column("trace_id", LargeBinary, nullable=False),
    Column("span_id", LargeBinary, nullable=False),
    Column("start_time", DateTime, nullable=False),
    Column("hour", DateTime, nullable=False),
    Column("deployment", String, nullable=False),
    Column("matched_by", String, nullable=False),
    Column("weight", BigInteger, nullable=False),
    Column("cost_nanos", BigInteger, nullable=False),
    Column("idle_cost_nanos", BigInteger, nullable=False),
)
