"""Every alert links to its incident on the dashboard: the public dashboard URL
(SPENDSCOPE_DASHBOARD_URL, or its older name) reaches each channel, which links
`<url>/alerts?incident=<id>` (the bodies themselves: tests/e2e/test_alerts_e2e.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.alerting.channel import incident_link
from collector.alerting.wiring import alert_channels
from collector.settings import Settings


def channels_settings(tmp_path: Path, **links: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        slack_webhook_url="http://127.0.0.1:9/slack",  # type: ignore[arg-type]
        pagerduty_routing_key="key",  # type: ignore[arg-type]
        alert_webhook_url="http://127.0.0.1:9/hook",  # type: ignore[arg-type]
        **links,  # type: ignore[arg-type]
    )


def test_the_incident_link_is_the_alerts_page_with_the_incident_chosen() -> None:
    assert incident_link("https://costs.example.com/", 42) == (
        "https://costs.example.com/alerts?incident=42"
    )
    assert (
        incident_link("https://example.com/spend", 7)
        == "https://example.com/spend/alerts?incident=7"
    )
    assert incident_link(None, 42) is None and incident_link("", 42) is None


@pytest.mark.parametrize(
    ("links", "expected"),
    [
        ({"dashboard_url": "https://new.example"}, "https://new.example"),
        ({"alert_dashboard_url": "https://old.example"}, "https://old.example"),
        (
            {"dashboard_url": "https://new.example", "alert_dashboard_url": "https://old.example"},
            "https://new.example",
        ),
        ({}, None),
    ],
)
def test_every_channel_gets_the_dashboard_url(
    tmp_path: Path, links: dict[str, str], expected: str | None
) -> None:
    channels = alert_channels(channels_settings(tmp_path, **links))
    assert sorted(c.name for c in channels) == ["pagerduty", "slack", "webhook"]
    assert {c.dashboard_url for c in channels} == {expected}
