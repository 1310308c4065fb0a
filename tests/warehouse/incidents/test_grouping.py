"""Incidents across the spend hierarchy (total > feature > feature x model) for one cause are
one page: the most specific series on top, the others listed under it, one dedup key, one
trigger and one resolve per channel; unrelated series still page apart."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from collector.alerting.channels.slack import message
from tests.warehouse.incidents.test_incidents import HOUR, MINUTE, POLICY, T0, Lifecycle, signal
from warehouse.detection.signals import Signal
from warehouse.incidents import grouping
from warehouse.incidents import lifecycle as incidents
from warehouse.store.database import Database
from warehouse.store.scope import ALL_TENANTS

TOTAL = "spend:hour:total"
FEATURE = "spend:hour:feature=search"
LEAF = "spend:hour:feature=search|model=openai/gpt-4o"
FEATURE_DAY = "spend:day:feature=search"


def spend(at: Any, impact: str, series: str, cause: str | None = None) -> Signal:
    fired = signal(at, impact, series=series, tenant=None)
    if cause is not None:
        fired = replace(fired, details={"explanation": {"main_cause": cause}})
    return fired


def snapshots(life: Lifecycle) -> list[dict[str, Any]]:
    rows = life.cursor.execute("SELECT snapshot FROM alert_outbox ORDER BY id").fetchall()
    return [json.loads(row[0]) for row in rows]


@pytest.fixture
def life(database: Database) -> Lifecycle:
    return Lifecycle(database)


def test_the_total_a_feature_and_its_model_firing_together_are_one_page(life: Lifecycle) -> None:
    life.fire(
        spend(T0, "400", TOTAL),
        spend(T0, "350", FEATURE),
        spend(T0, "300", LEAF),
        spend(T0, "330", FEATURE_DAY),
    )
    found = {i.series: i for i in life.incidents()}
    assert len(found) == 4  # each series keeps its incident
    root = min(found.values(), key=lambda i: i.id)
    assert {i.group_id for i in found.values()} == {root.id}
    # One page per channel, not four: on the root's id and dedup key.
    assert life.outbox() == [
        (root.id, "slack", "trigger", "critical", "pending"),
        (root.id, "pagerduty", "trigger", "critical", "pending"),
    ]
    page = snapshots(life)[0]
    assert page["dedup_key"] == root.dedup_key
    assert page["series"] == LEAF  # the most specific cause on top
    assert page["title"] == f"{LEAF} is $300 over (and 3 related series)"
    assert [g["series"] for g in page["details"]["grouped"]] == [FEATURE, FEATURE_DAY, TOTAL]
    assert page["impact_usd"] == "300"  # its own figures: overlapping series are not summed
    slack = json.dumps(message(page))  # what Slack shows lists the others under it
    assert "Also firing, same cause" in slack and f"`{TOTAL}` $400.00" in slack


def test_a_related_series_firing_later_joins_the_open_page(life: Lifecycle) -> None:
    life.fire(spend(T0, "50", TOTAL))
    (total,) = life.incidents()
    assert life.outbox() == [(total.id, "slack", "trigger", "warning", "pending")]

    life.fire(spend(T0 + 20 * MINUTE, "60", FEATURE))  # same severity: the page stands
    assert len(life.outbox()) == 1
    life.fire(spend(T0 + 40 * MINUTE, "400", LEAF))  # the group gets worse: pages, once
    leaf = next(i for i in life.incidents() if i.series == LEAF)
    assert leaf.group_id == total.id
    assert life.outbox()[1:] == [
        (total.id, "slack", "trigger", "critical", "pending"),
        (total.id, "pagerduty", "trigger", "critical", "pending"),
    ]
    escalation = snapshots(life)[-1]
    assert (escalation["series"], escalation["dedup_key"]) == (LEAF, total.dedup_key)
    assert {i.dedup_key for i in life.incidents()} != {total.dedup_key}  # own keys kept


def test_unrelated_series_page_apart(life: Lifecycle) -> None:
    life.fire(
        spend(T0, "50", FEATURE),
        spend(T0, "50", "spend:hour:feature=drafts", cause="cache"),  # a sibling of search
        spend(T0, "50", "spend:hour:model=openai/gpt-4o", cause="cache"),
        # Within both drafts and the model, but for another cause.
        spend(T0, "50", "spend:hour:feature=drafts|model=openai/gpt-4o", cause="calls"),
    )
    life.fire(spend(T0 + 3 * HOUR, "50", TOTAL))  # the others' windows ended hours before
    found = life.incidents()
    assert len({i.group_id for i in found}) == 5
    assert sorted(row[0] for row in life.outbox() if row[2] == "trigger") == [1, 2, 3, 4, 5]


def test_the_page_resolves_with_its_last_member(life: Lifecycle) -> None:
    life.fire(spend(T0, "300", TOTAL), spend(T0, "300", LEAF))
    life.fire(spend(T0 + HOUR, "300", LEAF))  # the model's series keeps firing
    root = min(life.incidents(), key=lambda i: i.id)
    quiet = POLICY.quiet("spend_anomaly")

    life.run(T0 + quiet)  # the total is quiet: it resolves, the page stays up
    states = {i.series: i.status for i in life.incidents()}
    assert states == {TOTAL: "resolved", LEAF: "open"}
    assert [row[2] for row in life.outbox()] == ["trigger", "trigger"]

    life.run(T0 + HOUR + quiet)  # the last member: the page resolves, on the root's key
    assert {i.status for i in life.incidents()} == {"resolved"}
    assert life.outbox()[2:] == [
        (root.id, "pagerduty", "resolve", "critical", "pending"),
        (root.id, "slack", "resolve", "critical", "pending"),
    ]
    assert {s["dedup_key"] for s in snapshots(life)} == {root.dedup_key}


def test_acknowledging_a_member_acknowledges_the_page(life: Lifecycle) -> None:
    life.fire(spend(T0, "300", TOTAL), spend(T0, "300", LEAF))
    leaf = next(i for i in life.incidents() if i.series == LEAF)
    root = next(i for i in life.incidents() if i.series == TOTAL)
    life.cursor.begin()
    _, notices = incidents.acknowledge(life.cursor, leaf.id, ALL_TENANTS, "ana", T0)
    life.cursor.commit()
    assert [(n.incident_id, n.channel, n.event) for n in notices] == [
        (root.id, "pagerduty", "acknowledge")
    ]
    assert notices[0].snapshot["dedup_key"] == root.dedup_key
    acknowledged = {i.series: i.acknowledged_by for i in life.incidents()}
    assert acknowledged == {TOTAL: "ana", LEAF: "ana"}
    # Acknowledging the page again (through the root) tells nobody twice.
    assert incidents.acknowledge(life.cursor, root.id, ALL_TENANTS, "bo", T0)[1] == []


def test_the_hierarchy_of_series() -> None:
    assert grouping.dimensions(TOTAL) == frozenset()
    assert grouping.dimensions(LEAF) == {"feature=search", "model=openai/gpt-4o"}
    assert grouping.dimensions("session:tenant=:s1") is None
    assert grouping.dimensions("budget:total:month") is None
