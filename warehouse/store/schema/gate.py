"""Runs of the CI cost gate that a recording posted to the service (migration 0020): each
run's identity and its whole document (`warehouse.gate.run`'s JSON), so a comparison reads
the calls back exactly as they were recorded."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from warehouse.store.schema.base import Base, id_key


class GateRun(Base):
    """One recorded run: label, commit and branch as the recording gave them."""

    __tablename__ = "gate_runs"

    id: Mapped[int] = id_key("gate_runs")
    label: Mapped[str] = mapped_column(String, nullable=False)
    commit: Mapped[str | None] = mapped_column(String)
    branch: Mapped[str | None] = mapped_column(String)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    repetitions: Mapped[int] = mapped_column(Integer, nullable=False)
    calls: Mapped[int] = mapped_column(BigInteger, nullable=False)
    document: Mapped[str] = mapped_column(Text, nullable=False)
