"""Budgets and the detection file: thresholds, the month-end forecast, tenant scope, exact
money through a real DuckDB, and errors that name the entry and field."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.paths import REPO
from warehouse.config import detection_file
from warehouse.detection import budgets
from warehouse.detection.budgets import Budget
from warehouse.detection.config import load_anomaly_config, load_runaway_config
from warehouse.forecast import spend_forecast
from warehouse.store.database import Database
from warehouse.store.scope import TenantScope

NOW = dt.datetime(2026, 11, 20, 12, 0)  # 19.5 days into a 30-day month


def spend(database: Database, rows: list[tuple[dt.datetime, str, str, str]]) -> None:
    """rollup_hourly rows: (hour, feature, tenant, cost)."""
    database.cursor().executemany(
        "INSERT INTO rollup_hourly VALUES (?, ?, 'openai', 'gpt-4o', ?, 'prod', NULL, 1, 0, 0,"
        " 1, 1, 0, 0, 0, ?::DECIMAL(38, 24), NULL, 0, ?, ?)",
        [(hour, feature, tenant, cost, hour, hour) for hour, feature, tenant, cost in rows],
    )


def test_thresholds_and_forecast() -> None:
    budget = Budget("b", "tenant", "acme", "month", Decimal("1000"))
    # $400 so far, forecast $610.
    status = budgets.evaluate(budget, Decimal("400"), Decimal("610"), NOW)
    assert status.period_start == dt.datetime(2026, 11, 1)
    assert status.period_end == dt.datetime(2026, 12, 1)
    assert status.percent == Decimal(40)
    assert status.crossed is None and not status.forecast_overrun and not status.firing
    assert status.forecast_usd == Decimal("610")
    # $850: past 80 %, forecast $1,060 overruns.
    status = budgets.evaluate(budget, Decimal("850"), Decimal("1060"), NOW)
    assert status.crossed == Decimal(80) and status.forecast_overrun and status.firing
    assert status.impact_usd == status.forecast_usd - Decimal(1000)
    signal = budgets.signal(status, NOW)
    assert signal.series == "budget:tenant=acme:month" and signal.tenant_id == "acme"
    assert signal.details["threshold_crossed"] == "80"
    assert signal.actual_usd == Decimal("850") and signal.expected_usd == Decimal(1000)
    day = Budget("d", "total", None, "day", Decimal("100"), forecast=False)
    status = budgets.evaluate(day, Decimal("101"), None, NOW)  # no forecast: the spend counts
    assert status.crossed == Decimal(100) and status.impact_usd == Decimal(1)
    assert not status.forecast_overrun  # this budget does not fire on forecasts
    blown = budgets.evaluate(budget, Decimal("1001"), None, NOW)  # no history, past the amount
    assert (
        blown.forecast_overrun
        and not budgets.evaluate(budget, Decimal("999"), None, NOW).forecast_overrun
    )
    assert budgets.signal(status, NOW).series == "budget:total:day"
    # A day budget runs the last 6 hours' rate to midnight: $3 in 6 h, 12 h left.
    assert budgets.day_forecast(Decimal(10), Decimal(3), NOW) == Decimal(16)
    assert budgets.period_bounds("month", dt.datetime(2026, 12, 31, 23)) == (
        dt.datetime(2026, 12, 1),
        dt.datetime(2027, 1, 1),
    )


def test_statuses_read_exact_spend_through_the_tenant_scope(database: Database) -> None:
    cursor = database.cursor()
    budgets.store_budgets(
        cursor,
        [
            Budget("acme", "tenant", "acme", "month", Decimal("10")),
            Budget("search-today", "feature", "search", "day", Decimal("1")),
        ],
        NOW,
    )
    spend(
        database,
        [
            (dt.datetime(2026, 11, 2, 9), "search", "acme", "3.000000000000000000000001"),
            (dt.datetime(2026, 11, 20, 11), "search", "acme", "0.6"),
            (dt.datetime(2026, 11, 20, 11), "chat", "globex", "5"),
            (dt.datetime(2026, 10, 31, 23), "search", "acme", "100"),  # last month
        ],
    )
    found = {s.budget.name: s for s in budgets.statuses(cursor, NOW)}
    assert found["acme"].spend_usd == Decimal("3.600000000000000000000001")
    assert found["search-today"].spend_usd == Decimal("0.6")
    assert found["search-today"].crossed == Decimal(50)
    scoped = budgets.statuses(cursor, NOW, TenantScope("acme"))
    assert [s.budget.name for s in scoped] == ["acme"]
    assert budgets.statuses(cursor, NOW, TenantScope("globex")) == []
    assert budgets.run(cursor, NOW) == 1  # search-today is at 60 %


def test_a_month_budgets_forecast_is_the_month_end_forecast(database: Database) -> None:
    """One forecast: a month budget's is `warehouse.forecast`'s for the same spend (the
    figure the overview and /api/v1/forecast show); without history there is none."""
    cursor = database.cursor()
    budgets.store_budgets(
        cursor,
        [
            Budget("search", "feature", "search", "month", Decimal("300")),
            Budget("all", "total", None, "month", Decimal("300")),
            Budget("new", "feature", "launched-today", "month", Decimal("300")),
        ],
        NOW,
    )
    rows = [
        (dt.datetime(2026, 11, 20) - dt.timedelta(days=back, hours=-9), "search", "acme", cost)
        for back, cost in ((n, "10" if n % 7 else "4") for n in range(1, 15))
    ]
    rows += [(dt.datetime(2026, 11, 20, 10), "launched-today", "acme", "2")]
    spend(database, rows)
    found = {s.budget.name: s for s in budgets.statuses(cursor, NOW)}
    expected = spend_forecast(cursor, NOW, {"feature": "search"})[1]
    assert expected is not None and found["search"].forecast_usd == expected.total
    everything = spend_forecast(cursor, NOW)[1]
    assert everything is not None and found["all"].forecast_usd == everything.total
    assert found["new"].forecast_usd is None and not found["new"].forecast_overrun


def test_the_detection_file_round_trips(tmp_path: Path, database: Database) -> None:
    (tmp_path / "detection.toml").write_text(
        "[anomalies.hour]\nmin_excess_usd = 12\n[runaway]\nloop_repeats = 7\n"
        '[[budgets]]\nname = "all"\namount_usd = "99.5"\nperiod = "day"\n'
    )
    loaded = detection_file.load(tmp_path)
    cursor = database.cursor()
    detection_file.store(cursor, loaded, NOW)
    assert load_anomaly_config(cursor).hour.min_excess_usd == 12
    assert load_runaway_config(cursor).loop_repeats == 7
    (budget,) = budgets.load_budgets(cursor)
    assert budget == Budget("all", "total", None, "day", Decimal("99.5"))
    # No file: no budgets, default thresholds.
    detection_file.store(cursor, detection_file.load(tmp_path / "none"), NOW)
    assert budgets.load_budgets(cursor) == []
    assert load_runaway_config(cursor).loop_repeats == 20


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[[budgets]]\nname = "a"\namount_usd = "-1"', r"budget 1 \(a\): amount_usd must be"),
        ('[[budgets]]\nname = "a"\nscope = "team"\namount_usd = 1', "scope must be total"),
        ('[[budgets]]\nname = "a"\nscope = "tenant"\namount_usd = 1', "needs `value`"),
        ('[[budgets]]\nname = "a"\nperiod = "week"\namount_usd = 1', "period must be day"),
        ('[[budgets]]\nname = "a"\namount_usd = 1\nthresholds = [0]', "positive percentages"),
        (
            '[[budgets]]\nname = "a"\namount_usd = 1\n[[budgets]]\nname = "a"\namount_usd = 2',
            "used twice",
        ),
        (
            '[[budgets]]\nname = "a"\namount_usd = 1\n[[budgets]]\nname = "b"\namount_usd = 2',
            "two budgets watch the same 'budget:total:month'",
        ),
        ("[runaway]\nloop_repeat = 3", r"runaway: unknown setting\(s\) loop_repeat"),
        ("[anomalies.hour]\nmin_ratio = true", "anomalies.hour.min_ratio: must be a number"),
        ("[alerts]\nx = 1", r"unknown section\(s\) alerts"),
        ("budgets = [", "detection.toml"),
    ],
)
def test_errors_name_the_entry_and_field(tmp_path: Path, text: str, error: str) -> None:
    (tmp_path / "detection.toml").write_text(text)
    with pytest.raises(detection_file.DetectionFileError, match=error):
        detection_file.load(tmp_path)


def test_the_documented_example_is_valid() -> None:
    doc = (REPO / "docs" / "anomalies.md").read_text()
    match = re.search(r"```toml\n(.*?)```", doc, re.S)
    assert match is not None
    parsed = detection_file.parse(tomllib.loads(match.group(1)), "docs/anomalies.md")
    assert [b.series for b in parsed.budgets] == ["budget:tenant=acme:month"]
