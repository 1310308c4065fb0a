"""The anomalies page's "Projected impact, firing" never sums overlapping series."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dashboard.views.anomalies import projected_impact


def spend(series: str, impact: str) -> dict[str, Any]:
    return {"kind": "spend_anomaly", "series": series, "impact_usd": impact}


def test_the_total_a_feature_and_its_models_count_once() -> None:
    firing = [
        spend("spend:hour:total", "100"),
        spend("spend:day:total", "80"),  # the same series at another grain
        spend("spend:hour:feature=search", "90"),
        spend("spend:hour:feature=search|model=openai/gpt-4o", "70"),
        spend("spend:call:feature=search|model=openai/gpt-4o", "75"),
        spend("spend:hour:model=openai/gpt-4o", "60"),
        spend("spend:hour:tenant=acme", "50"),
    ]
    assert projected_impact(firing) == Decimal("100")  # not 525


def test_separate_features_add_up_and_a_feature_covers_its_models() -> None:
    firing = [
        spend("spend:hour:feature=search", "40"),
        spend("spend:hour:feature=search|model=openai/gpt-4o", "35"),
        spend("spend:hour:feature=drafts|model=openai/gpt-4o", "20"),
        spend("spend:hour:feature=drafts|model=openai/gpt-4o-mini", "5"),
        {"kind": "runaway_session", "series": "session:tenant=:s1", "impact_usd": "30"},
    ]
    assert projected_impact(firing) == Decimal("65")  # search 40 + drafts 25
    assert projected_impact([]) == Decimal(0)
