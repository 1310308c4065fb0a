"""Reconciliation with the bill: what the providers billed, as imported (migration 0017).

`bill_imports` records each import (a file or a pull from an admin API) with its content's
SHA-256, so the same bill imported twice is recognised and changes nothing. `bill_lines` holds
the bill's lines, one per natural key (`line_key`: source, kind, period, provider, model,
project, API key, tier and token class); a later import of the same key replaces the line's
figures, so overlapping pulls never count a line twice. `bill_days` records which days each
source's imports covered for each provider, so a model missing from a covered day is a gap
(spans the bill does not have) rather than a day nobody imported. See
`warehouse/reconciliation/`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from warehouse.store.schema.base import Base, id_key

# Bills carry at most cents to 10 decimal places (Anthropic: fractional cents as strings).
BillMoney = Numeric(38, 12)


class BillImport(Base):
    """One import of a bill: a file, or the pages of an admin API pulled together."""

    __tablename__ = "bill_imports"
    __table_args__ = (CheckConstraint("source IN ('openai', 'anthropic', 'focus')", name="source"),)

    id: Mapped[int] = id_key("bill_imports")
    source: Mapped[str] = mapped_column(String, nullable=False)
    format: Mapped[str] = mapped_column(String, nullable=False)
    name: Mapped[str] = mapped_column(String, nullable=False)
    sha256: Mapped[str] = mapped_column(String, nullable=False, unique=True)
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    lines: Mapped[int] = mapped_column(BigInteger, nullable=False)
    changed_lines: Mapped[int] = mapped_column(BigInteger, nullable=False)
    skipped_rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    first_day: Mapped[dt.date | None] = mapped_column(Date)
    last_day: Mapped[dt.date | None] = mapped_column(Date)


class BillLine(Base):
    """One line of a bill: tokens (a usage report), dollars (a cost report) or both (FOCUS).
    Token columns follow spendscope's classes: `input_tokens` excludes cache reads and writes
    here (uncached input), as the providers' reports split them."""

    __tablename__ = "bill_lines"
    __table_args__ = (
        CheckConstraint("kind IN ('usage', 'cost')", name="kind"),
        CheckConstraint(
            "token_class IN ('', 'input', 'cache_read', 'cache_write', 'output', 'other')",
            name="token_class",
        ),
    )

    line_key: Mapped[str] = mapped_column(String, primary_key=True)
    source: Mapped[str] = mapped_column(String, nullable=False)
    kind: Mapped[str] = mapped_column(String, nullable=False)
    period_start: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    day: Mapped[dt.date] = mapped_column(Date, nullable=False)
    provider: Mapped[str] = mapped_column(String, nullable=False)
    model: Mapped[str] = mapped_column(String, nullable=False)
    project: Mapped[str] = mapped_column(String, nullable=False)
    api_key: Mapped[str] = mapped_column(String, nullable=False)
    tier: Mapped[str] = mapped_column(String, nullable=False)
    token_class: Mapped[str] = mapped_column(String, nullable=False)
    requests: Mapped[int | None] = mapped_column(BigInteger)
    input_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False)
    output_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False)
    cost_usd: Mapped[Decimal | None] = mapped_column(BillMoney)
    import_id: Mapped[int] = mapped_column(BigInteger, nullable=False)


class BillDay(Base):
    """A day a source's imports covered for a provider (even with no usage that day)."""

    __tablename__ = "bill_days"

    source: Mapped[str] = mapped_column(String, primary_key=True)
    provider: Mapped[str] = mapped_column(String, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    import_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
