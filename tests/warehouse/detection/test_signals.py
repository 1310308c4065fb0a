"""The detector -> alert lifecycle interface: signals round-trip through DuckDB unchanged."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from warehouse.detection.signals import Signal, last_signal_id, record_signals, signals_between
from warehouse.store.database import Database

T0 = dt.datetime(2026, 11, 2, 10)


def _signal(series: str, impact: str) -> Signal:
    return Signal(
        kind="spend_anomaly",
        series=series,
        direction="up",
        detected_at=T0 + dt.timedelta(minutes=5),
        window_start=T0,
        window_end=T0 + dt.timedelta(hours=1),
        actual_usd=Decimal("120.000000000001"),
        expected_usd=Decimal("20"),
        impact_usd=Decimal(impact),
        score=9.5,
        title=f"{series} spend 6x its usual",
        tenant_id="acme",
        details={"feature": "search", "explanation": {"calls": 0.75, "mix": 0.25}},
    )


def test_signals_round_trip_in_id_order(database: Database) -> None:
    cursor = database.cursor()
    assert last_signal_id(cursor) == 0
    assert record_signals(cursor, []) == 0
    assert record_signals(cursor, [_signal("a", "100"), _signal("b", "2400.5")]) == 2
    high = last_signal_id(cursor)
    assert high == 2

    first, second = signals_between(cursor, 0, high)
    assert (first.id, first.series, second.id, second.series) == (1, "a", 2, "b")
    assert second.actual_usd == Decimal("120.000000000001")
    assert second.impact_usd == Decimal("2400.5")
    assert second.details == {"feature": "search", "explanation": {"calls": 0.75, "mix": 0.25}}
    assert second.detected_at == T0 + dt.timedelta(minutes=5)
    assert signals_between(cursor, 1, high) == [second]
    assert signals_between(cursor, high, high) == []
