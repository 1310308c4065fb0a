"""The alert lifecycle, driven by recorded signals through the registered job: one incident
per series and direction, updated in place, resolved when quiet, reopened (not re-paged)
within its cooldown; mutes and acknowledgements record without sending."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from warehouse.detection.signals import Kind, Signal, record_signals
from warehouse.incidents import lifecycle as incidents
from warehouse.incidents.mutes import add_mute, delete_mute, mutes
from warehouse.incidents.policy import AlertPolicy, PolicyError, load_policy, store_policy
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.store.database import Database
from warehouse.store.scope import ALL_TENANTS, TenantScope

T0 = dt.datetime(2026, 11, 2, 10)
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)
POLICY = AlertPolicy(
    warning_usd=Decimal("10"),
    critical_usd=Decimal("250"),
    channels=frozenset({"slack", "pagerduty"}),
)


def signal(
    at: dt.datetime,
    impact: str,
    *,
    series: str = "spend:hour:feature=search",
    kind: Kind = "spend_anomaly",
    tenant: str | None = "acme",
) -> Signal:
    return Signal(
        kind=kind,
        series=series,
        direction="up",
        detected_at=at,
        window_start=at - HOUR,
        window_end=at,
        actual_usd=Decimal(impact) + 20,
        expected_usd=Decimal(20),
        impact_usd=Decimal(impact),
        score=8.0,
        title=f"{series} is ${impact} over",
        tenant_id=tenant,
        details={"feature": "search", "explanation": {"calls": 0.8, "tokens_per_call": 0.2}},
    )


class Lifecycle:
    def __init__(self, database: Database, policy: AlertPolicy = POLICY) -> None:
        self.cursor = database.cursor()
        store_policy(self.cursor, policy, T0)

    def fire(self, *signals: Signal, at: dt.datetime | None = None) -> None:
        record_signals(self.cursor, signals)
        self.run(at or max(s.detected_at for s in signals))

    def run(self, now: dt.datetime) -> None:
        run_job(self.cursor, JOBS[incidents.NAME], now)

    def incidents(self) -> list[incidents.Incident]:
        return incidents.load_incidents(self.cursor, "TRUE", {})

    def outbox(self) -> list[tuple[Any, ...]]:
        return self.cursor.execute(
            "SELECT incident_id, channel, event, severity, status FROM alert_outbox ORDER BY id"
        ).fetchall()


@pytest.fixture
def life(database: Database) -> Lifecycle:
    return Lifecycle(database)


def test_open_update_escalate_resolve_then_cooldown_then_a_new_incident(life: Lifecycle) -> None:
    life.fire(signal(T0, "50"))
    (incident,) = life.incidents()
    assert (incident.status, incident.severity, incident.signal_count) == ("open", "warning", 1)
    assert life.outbox() == [(1, "slack", "trigger", "warning", "pending")]

    life.fire(signal(T0 + HOUR, "400"))  # escalates: pages, and tells Slack it got worse
    life.fire(signal(T0 + 2 * HOUR, "300"))  # same severity: updated in place, nothing sent
    (incident,) = life.incidents()
    assert incident.signal_count == 3
    assert (incident.severity, incident.peak_impact_usd, incident.impact_usd) == (
        "critical", Decimal(400), Decimal(300)
    )  # fmt: skip
    assert incident.notified_channels == ("pagerduty", "slack")
    assert life.outbox()[1:] == [
        (1, "slack", "trigger", "critical", "pending"),
        (1, "pagerduty", "trigger", "critical", "pending"),
    ]

    quiet = POLICY.quiet("spend_anomaly")
    life.run(T0 + 2 * HOUR + quiet - MINUTE)
    assert life.incidents()[0].status == "open"
    life.run(T0 + 2 * HOUR + quiet)
    (incident,) = life.incidents()
    assert (incident.status, incident.resolved_at) == ("resolved", T0 + 2 * HOUR + quiet)
    assert life.outbox()[3:] == [
        (1, "pagerduty", "resolve", "critical", "pending"),
        (1, "slack", "resolve", "critical", "pending"),
    ]
    resolved_at = incident.resolved_at
    assert resolved_at is not None

    # Within the cooldown: the same incident reopens, and pages nobody at the same severity.
    life.fire(signal(resolved_at + HOUR, "300"))
    (incident,) = life.incidents()
    assert (incident.status, incident.reopen_count, incident.signal_count) == ("open", 1, 4)
    assert len(life.outbox()) == 5
    life.run(resolved_at + HOUR + quiet)
    assert life.incidents()[0].status == "resolved"
    assert len(life.outbox()) == 5  # nothing was open on any channel: nothing to resolve

    # After the cooldown: a new incident, paged anew on the same dedup key.
    later = resolved_at + HOUR + quiet + POLICY.cooldown("spend_anomaly") + HOUR
    life.fire(signal(later, "260"))
    first, second = life.incidents()
    assert (second.id, second.status, second.opened_at) == (2, "open", later)
    assert second.dedup_key == first.dedup_key
    assert life.outbox()[5:] == [
        (2, "slack", "trigger", "critical", "pending"),
        (2, "pagerduty", "trigger", "critical", "pending"),
    ]


def test_one_incident_per_series_direction_and_tenant_in_one_run(life: Lifecycle) -> None:
    down = signal(T0, "-30")
    down = Signal(**{**down.__dict__, "direction": "down"})
    life.fire(
        signal(T0, "5", series="a"),  # info: recorded, routed nowhere
        signal(T0 + MINUTE, "6", series="a"),
        signal(T0, "30", series="b"),
        down,
        signal(T0, "30", series="b", tenant="globex", kind="budget"),
    )
    found = {(i.kind, i.series, i.direction): i for i in life.incidents()}
    assert len(found) == 4
    assert found["spend_anomaly", "a", "up"].signal_count == 2
    assert found["spend_anomaly", "a", "up"].severity == "info"
    assert found["spend_anomaly", "spend:hour:feature=search", "down"].severity == "warning"
    assert len({i.dedup_key for i in found.values()}) == 4
    assert sorted(r[0] for r in life.outbox()) == sorted(
        i.id for i in found.values() if i.severity == "warning"
    )


def test_a_late_signal_does_not_move_the_quiet_clock_back(life: Lifecycle) -> None:
    series = "session:s1"
    life.fire(signal(T0 + 9 * MINUTE, "300", series=series, kind="runaway_session"))
    life.fire(signal(T0, "300", series=series, kind="runaway_session"), at=T0 + 9 * MINUTE)
    life.run(T0 + 15 * MINUTE)  # 10 quiet minutes after the first run's signal, not after T0
    (incident,) = life.incidents()
    assert (incident.status, incident.signal_count, incident.last_signal_at) == (
        "open", 2, T0 + 9 * MINUTE
    )  # fmt: skip


def test_a_channel_no_longer_configured_gets_no_resolve(life: Lifecycle) -> None:
    life.fire(signal(T0, "300"))
    store_policy(life.cursor, replace(POLICY, channels=frozenset({"slack"})), T0)
    life.run(T0 + POLICY.quiet("spend_anomaly"))
    assert life.outbox()[2:] == [(1, "slack", "resolve", "critical", "pending")]


def test_quiet_time_and_cooldown_depend_on_the_kind(life: Lifecycle) -> None:
    life.fire(
        signal(T0, "300", series="session:s1", kind="runaway_session"),
        signal(T0, "300", series="spend:total"),
    )
    life.run(T0 + 15 * MINUTE)
    status = {i.series: i.status for i in life.incidents()}
    assert status == {"session:s1": "resolved", "spend:total": "open"}


def test_a_mute_records_suppressed_notices_and_sends_once_it_ends(
    life: Lifecycle,
) -> None:
    series = "spend:hour:feature=search"
    mute = add_mute(life.cursor, series, "acme", T0 + 2 * HOUR, "deploy", T0)
    life.fire(signal(T0, "50"))
    life.fire(signal(T0 + HOUR, "60"))  # still muted, already recorded: nothing new
    assert life.outbox() == [(1, "slack", "trigger", "warning", "suppressed")]
    note = life.cursor.execute("SELECT note FROM alert_outbox").fetchone()
    assert note == (f"muted until {(T0 + 2 * HOUR).isoformat()}",)
    life.fire(signal(T0 + 2 * HOUR, "60"))  # the mute has ended and it still fires
    assert life.outbox()[1:] == [(1, "slack", "trigger", "warning", "pending")]

    # Another tenant's mute of the same series does not hold; deleting works per scope.
    other = add_mute(life.cursor, "spend:total", "globex", T0 + 9 * HOUR, None, T0)
    life.fire(signal(T0 + 3 * HOUR, "50", series="spend:total"))
    assert life.outbox()[-1][1:] == ("slack", "trigger", "warning", "pending")
    assert not delete_mute(life.cursor, other.id, TenantScope("acme"))
    assert delete_mute(life.cursor, other.id, TenantScope("globex"))
    assert [m.id for m in mutes(life.cursor, ALL_TENANTS)] == [mute.id]
    assert mutes(life.cursor, ALL_TENANTS, active_at=T0 + 3 * HOUR) == []


def test_acknowledged_incidents_tell_pagerduty_and_suppress_escalations(
    life: Lifecycle,
) -> None:
    life.fire(signal(T0, "300"), signal(T0, "20", series="spend:total"))
    paged, warned = life.incidents()
    life.cursor.begin()
    incident, notices = incidents.acknowledge(life.cursor, paged.id, ALL_TENANTS, "ana", T0)
    life.cursor.commit()
    assert incident is not None and incident.acknowledged_by == "ana"
    assert [(n.channel, n.event) for n in notices] == [("pagerduty", "acknowledge")]
    # Acknowledging twice changes nothing; another tenant cannot see it.
    assert incidents.acknowledge(life.cursor, paged.id, ALL_TENANTS, "bo", T0)[1] == []
    assert incidents.acknowledge(life.cursor, paged.id, TenantScope("globex"), "x", T0)[0] is None

    incidents.acknowledge(life.cursor, warned.id, ALL_TENANTS, None, T0)
    life.fire(signal(T0 + HOUR, "900", series="spend:total"))  # would page; acknowledged
    assert life.outbox()[-2:] == [
        (warned.id, "slack", "trigger", "critical", "suppressed"),
        (warned.id, "pagerduty", "trigger", "critical", "suppressed"),
    ]
    snapshot = json.loads(
        life.cursor.execute("SELECT snapshot FROM alert_outbox ORDER BY id DESC").fetchone()[0]
    )
    assert snapshot["peak_impact_usd"] == "900" and snapshot["acknowledged_at"] is not None


def test_the_policy_round_trips_and_rejects_nonsense(database: Database) -> None:
    cursor: duckdb.DuckDBPyConnection = database.cursor()
    assert load_policy(cursor) == AlertPolicy()
    assert AlertPolicy().route("critical") == ()  # nothing configured, nothing routed
    store_policy(cursor, POLICY, T0)
    assert load_policy(cursor) == POLICY
    assert POLICY.route("critical") == ("slack", "pagerduty")
    assert POLICY.severity(Decimal("-300")) == "critical"
    with pytest.raises(PolicyError):
        AlertPolicy(warning_usd=Decimal(5), critical_usd=Decimal(1))
    with pytest.raises(PolicyError):
        AlertPolicy(routes={"warning": ("email",)})
