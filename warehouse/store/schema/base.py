"""The declarative base every table hangs on, its naming convention, the money types and the
sequence-backed integer key."""

from __future__ import annotations

from sqlalchemy import BigInteger, MetaData, Numeric, Sequence, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Prices are per million tokens. The catalog has prices with 18 decimal places (float
# artifacts such as 0.18000000000000002 kept as published), so 18 places hold any exactly.
PricePerMTok = Numeric(38, 18)
# A call's cost: tokens x an 18-place per-MTok price / 10^6 needs 24 places to stay exact
# (14 integer digits: sums up to $10^14 before DuckDB's 38-digit DECIMAL overflows).
Money = Numeric(38, 24)
# Reported costs arrive as floats from instrumentations; kept at 10 decimal places.
ReportedMoney = Numeric(20, 10)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def id_key(table: str) -> Mapped[int]:
    """An integer primary key `id` drawn from the sequence `<table>_id_seq` (DuckDB has no
    SERIAL, so the key names its sequence in its default)."""
    return mapped_column(
        BigInteger,
        Sequence(f"{table}_id_seq"),
        primary_key=True,
        server_default=text(f"nextval('{table}_id_seq')"),
    )
