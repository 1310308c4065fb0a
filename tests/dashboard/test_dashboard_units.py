"""The dashboard's own arithmetic: money formatting and the GPU break-even (the month-end
forecast is the API's: tests/warehouse/forecast)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from dashboard.breakeven import break_even
from dashboard.money import chart_amount, lower_bound, priced_cost, total, usd

UTC = dt.UTC


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
