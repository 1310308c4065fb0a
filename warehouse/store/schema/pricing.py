"""Prices (overrides, resolved keys and periods), the cost of each call and re-price requests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    LargeBinary,
    Sequence,
    String,
    Text,
    Time,
)
from sqlalchemy.orm import Mapped, mapped_column

from warehouse.store.schema.base import Base, Money, PricePerMTok, ReportedMoney, id_key


class PriceOverride(Base):
    """A user's own price (negotiated, batch, fine-tuned, self-hosted), from the price file or
    the API. Overrides win over the catalog; see `warehouse.pricing.pricebook` for the
    precedence."""

    __tablename__ = "price_overrides"
    __table_args__ = (
        CheckConstraint("match_kind IN ('exact', 'glob', 'regex')", name="match_kind"),
        CheckConstraint("source IN ('file', 'api')", name="source"),
    )

    id: Mapped[int] = id_key("price_overrides")
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
    # Added by migration 0016: an end (exclusive; NULL: none) and input-token tiers (JSON).
    effective_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    tiers: Mapped[str | None] = mapped_column(Text)


class PriceCatalog(Base):
    """A genai-prices data file the user supplied (a path or a URL): accepted (its text, in
    force while `retired_at` is NULL) or rejected (`error`). No accepted row in force: the
    catalog bundled with genai-prices prices. See `warehouse.pricing.catalog_store`."""

    __tablename__ = "price_catalogs"
    __table_args__ = (CheckConstraint("source IN ('file', 'url')", name="source"),)

    id: Mapped[int] = id_key("price_catalogs")
    source: Mapped[str] = mapped_column(String, nullable=False)
    location: Mapped[str] = mapped_column(Text, nullable=False)
    accepted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    sha256: Mapped[str | None] = mapped_column(String)
    modified_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    providers: Mapped[int | None] = mapped_column(BigInteger)
    models: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


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

    id: Mapped[int] = id_key("price_periods")
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
    # Added by migration 0019 (NULL on periods resolved before it): the rates of the priced
    # parts beyond text tokens, the service tier the period prices (NULL: standard), the
    # assumption behind a tier price the catalog does not give, and whether the 1-hour cache
    # write rate is assumed (the catalog has none).
    cache_write_1h_mtok: Mapped[Decimal | None] = mapped_column(PricePerMTok)
    input_audio_mtok: Mapped[Decimal | None] = mapped_column(PricePerMTok)
    output_audio_mtok: Mapped[Decimal | None] = mapped_column(PricePerMTok)
    input_image_mtok: Mapped[Decimal | None] = mapped_column(PricePerMTok)
    output_image_mtok: Mapped[Decimal | None] = mapped_column(PricePerMTok)
    web_searches_kcount: Mapped[Decimal | None] = mapped_column(PricePerMTok)
    service_tier: Mapped[str | None] = mapped_column(String)
    tier_assumption: Mapped[str | None] = mapped_column(String)
    cache_write_1h_assumed: Mapped[bool | None] = mapped_column(Boolean)


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
    # What pricing assumed for this call: the span's `pricing_assumption` codes plus the
    # price's own (a tier or 1-hour rate the catalog does not give). Added by migration 0019.
    pricing_assumption: Mapped[str | None] = mapped_column(String)


class RepriceRequest(Base):
    """Re-price the calls of one price key that started at or after `from_time` (NULL: all).
    Queued when the price book changes; done by the pricing job, which records the count."""

    __tablename__ = "reprice_requests"

    id: Mapped[int] = id_key("reprice_requests")
    provider: Mapped[str] = mapped_column(String, nullable=False)
    model: Mapped[str] = mapped_column(String, nullable=False)
    from_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    calls_repriced: Mapped[int | None] = mapped_column(BigInteger)


# Assigns `call_costs.priced_seq`: one value per pricing transaction.
PRICED_SEQ = Sequence("call_costs_priced_seq")
