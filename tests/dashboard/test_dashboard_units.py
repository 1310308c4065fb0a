"""The dashboard's own arithmetic: the month-end forecast, money formatting and the GPU
break-even."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from dashboard.breakeven import break_even
from dashboard.forecast import month_end_forecast
from dashboard.money import chart_amount, lower_bound, priced_cost, total, usd

UTC = dt.UTC


def test_forecast_adds_each_remaining_day_at_its_weekdays_rate() -> None:
    # Monday 2026-11-23, noon. Last two weeks: weekdays $10, weekends $2.
    now = dt.datetime(2026, 11, 23, 12, tzinfo=UTC)
    days = {}
    for back in range(1, 15):
        day = now.date() - dt.timedelta(days=back)
        days[day] = Decimal(2) if day.weekday() >= 5 else Decimal(10)
    forecast = month_end_forecast(Decimal(100), days, now)
    # Half of today (Monday, $10) + Tue 24..Fri 27 and Mon 30 at $10 + Sat 28, Sun 29 at $2.
    assert forecast == Decimal(100) + Decimal(5) + 5 * Decimal(10) + 2 * Decimal(2)


def test_forecast_falls_back_to_the_average_for_weekdays_not_seen() -> None:
    now = dt.datetime(2026, 11, 29, 0, tzinfo=UTC)  # Sunday, midnight
    days = {dt.date(2026, 11, 28): Decimal(4)}  # only a Saturday
    assert month_end_forecast(Decimal(50), days, now) == Decimal(50) + Decimal(4) * 2


def test_no_history_no_forecast() -> None:
    now = dt.datetime(2026, 11, 3, tzinfo=UTC)
    assert month_end_forecast(Decimal(1), {}, now) is None
    assert month_end_forecast(Decimal(1), {now.date(): Decimal(3)}, now) is None  # today only


@given(
    st.dictionaries(
        st.dates(dt.date(2026, 10, 1), dt.date(2026, 11, 14)),
        st.decimals(min_value=0, max_value=10_000, places=6),
        min_size=1,
    ),
    st.decimals(min_value=0, max_value=100_000, places=6),
)
def test_forecast_is_never_below_the_month_so_far(
    days: dict[dt.date, Decimal], so_far: Decimal
) -> None:
    now = dt.datetime(2026, 11, 15, 9, 30, tzinfo=UTC)
    forecast = month_end_forecast(so_far, days, now)
    assert forecast is not None and forecast >= so_far


def test_money_is_shown_with_the_digits_it_needs_and_unpriced_is_never_zero() -> None:
    assert usd("1234.5678") == "$1,234.57"
    assert usd("0.0421") == "$0.0421"
    assert usd("0.000056") == "$0.000056"
    assert usd("0") == "$0.00"
    assert usd(None) == "n/a"
    assert priced_cost("0", 5, 5) == "unpriced"
    assert priced_cost(None, 5, 5) == "unpriced"  # the API's null: unknown, never $0
    assert priced_cost("1.5", 5, 2) == "$1.50 + 2 unpriced calls"
    assert priced_cost("1.5", 5, 1) == "$1.50 + 1 unpriced call"
    assert priced_cost("1.5", 5, 0) == "$1.50"
    assert priced_cost("0", 0, 0) == "$0.00"  # no call at all: nothing unknown
    partly = {"cost_usd": "0.42", "calls": 3, "unpriced_calls": 1}
    assert total(partly) == "$0.4200 + 1 unpriced call"
    assert lower_bound("0.21", partly) == "≥ $0.2100"
    assert lower_bound("0.21", partly | {"unpriced_calls": 0}) == "$0.2100"
    assert lower_bound(None, partly | {"cost_usd": None, "unpriced_calls": 3}) == "unpriced"
    assert chart_amount(None) == 0.0 and chart_amount("0.5") == 0.5


def test_break_even_scales_throughput_by_the_cost_ratio() -> None:
    figures = {
        "prompt_tokens": 800_000, "generation_tokens": 200_000, "cost_usd": "24",
        "reference_cost_usd": "0.24", "tokens_per_gpu_second": 46.3, "utilization": 0.5,
    }  # fmt: skip
    even = break_even(figures)
    assert even is not None and not even.cheaper
    assert even.ratio == Decimal(100)
    assert even.reference_per_mtok == Decimal("0.24")  # $0.24 for one million tokens
    assert even.tokens_per_gpu_second == 4630.0
    assert even.utilization == 50.0  # out of reach: self-hosting cannot match this price
    cheaper = break_even(figures | {"reference_cost_usd": "48"})
    assert cheaper is not None and cheaper.cheaper and cheaper.utilization == 0.25


def test_no_break_even_without_a_reference_tokens_or_a_cost() -> None:
    figures = {
        "prompt_tokens": 10, "generation_tokens": 0, "cost_usd": "2",
        "reference_cost_usd": None, "tokens_per_gpu_second": 1.0, "utilization": 0.1,
    }  # fmt: skip
    assert break_even(figures) is None
    assert break_even(figures | {"reference_cost_usd": "1", "prompt_tokens": 0}) is None
    assert break_even(figures | {"reference_cost_usd": "1", "cost_usd": "0"}) is None
