"""The alert lifecycle: from detector signals to incidents and the notices they send.

One incident per (kind, series, direction) episode:
- the first signal opens it; later signals update it in place (latest figures, peak impact,
  count); its severity is that of the peak projected dollar impact (`AlertPolicy.severity`);
- it resolves once no signal has arrived for the kind's quiet time (housekeeping);
- for the kind's cooldown after that, the series firing again reopens the same incident
  instead of opening a new one, and pages again only if it is worse than before.

Notices: an incident sends a trigger to the channels its severity routes to when it first
reaches a severity it has not been notified at (opening, escalation), and a resolve to every
channel it triggered when it resolves. A mute on the series or an acknowledgement records the
trigger as suppressed instead; a resolve is never suppressed (it closes what was sent).

Related spend incidents across the hierarchy (the total, a feature, its feature x model, for
the same cause in overlapping windows) share one page: `warehouse.incidents.grouping`. A
group's notices are decided once per detector run, on its page.

The transitions (`absorb`, `decide`, `resolve`) are pure; `apply_signals` and `housekeeping`
are the job's step and housekeeping (see `warehouse.jobs.incremental`), and add the notices to the
outbox
in the job's transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa

from warehouse.core.errors import Conflict, NotFound
from warehouse.detection.signals import Signal, signals_between
from warehouse.incidents import grouping
from warehouse.incidents.mutes import Mute, all_mutes
from warehouse.incidents.outbox import Event, Notice, add_notices
from warehouse.incidents.policy import AlertPolicy, load_policy, severity_rank
from warehouse.store.numbering import next_values
from warehouse.store.scope import TenantScope
from warehouse.store.staging import MONEY_TEXT, staged
from warehouse.store.transaction import transaction

NAME = "alert_lifecycle"

COLUMNS = (
    "id", "kind", "series", "direction", "tenant_id", "status", "severity", "title", "dedup_key",
    "opened_at", "last_signal_at", "resolved_at", "first_signal_id", "last_signal_id",
    "signal_count", "reopen_count", "window_start", "window_end", "actual_usd", "expected_usd",
    "impact_usd", "peak_impact_usd", "score", "details", "notified_severity",
    "suppressed_severity", "notified_channels", "acknowledged_at", "acknowledged_by", "group_id",
)  # fmt: skip
MONEY_COLUMNS = ("actual_usd", "expected_usd", "impact_usd", "peak_impact_usd")


@dataclass(frozen=True)
class Incident:
    id: int
    kind: str
    series: str
    direction: str
    tenant_id: str | None
    status: str
    severity: str
    title: str
    dedup_key: str
    opened_at: dt.datetime
    last_signal_at: dt.datetime
    resolved_at: dt.datetime | None
    first_signal_id: int
    last_signal_id: int
    signal_count: int
    reopen_count: int
    window_start: dt.datetime
    window_end: dt.datetime
    actual_usd: Decimal
    expected_usd: Decimal
    impact_usd: Decimal
    peak_impact_usd: Decimal
    score: float
    details: dict[str, Any] = field(default_factory=dict)
    notified_severity: str | None = None
    suppressed_severity: str | None = None
    notified_channels: tuple[str, ...] = ()
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: str | None = None
    group_id: int | None = None  # the group's root (`warehouse.incidents.grouping`)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.series, self.direction)

    def snapshot(self, event: Event) -> dict[str, Any]:
        """What a channel renders: the incident as it was when the notice was decided."""
        data = {column: getattr(self, column) for column in COLUMNS}
        data["notified_channels"] = list(self.notified_channels)
        return {
            "event": event,
            **{k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in data.items()},
        } | {k: money(data[k]) for k in MONEY_COLUMNS}


def money(value: Decimal) -> str:
    """Exact, without the storage scale's trailing zeros: `900`, `12.5`."""
    return format(value.normalize(), "f")


def dedup_key(kind: str, series: str, direction: str, tenant_id: str | None) -> str:
    """One stable key per watched series: PagerDuty folds a re-trigger into the open alert and
    closes it on resolve. Hashed, as series keys can be long (PagerDuty allows 255)."""
    text = "\x1f".join([kind, series, direction, tenant_id or ""])
    return f"spendscope-{kind}-{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def _reopens(incident: Incident, signal: Signal, policy: AlertPolicy) -> bool:
    if incident.status == "open":
        return True
    assert incident.resolved_at is not None
    return signal.detected_at < incident.resolved_at + policy.cooldown(incident.kind)


def absorb(incident: Incident | None, signal: Signal, policy: AlertPolicy, new_id: int) -> Incident:
    """The incident after `signal`: the open (or cooling-down) one updated, else a new one."""
    assert signal.id is not None
    figures: dict[str, Any] = {
        "title": signal.title,
        "last_signal_at": signal.detected_at,
        "last_signal_id": signal.id,
        "window_start": signal.window_start,
        "window_end": signal.window_end,
        "actual_usd": signal.actual_usd,
        "expected_usd": signal.expected_usd,
        "impact_usd": signal.impact_usd,
        "score": signal.score,
        "details": dict(signal.details),
    }
    if incident is not None and _reopens(incident, signal, policy):
        peak = max(incident.peak_impact_usd, abs(signal.impact_usd))
        severity = max(incident.severity, policy.severity(peak), key=severity_rank)
        reopened = incident.status == "resolved"
        # A late signal (an older detector run) never moves the quiet clock back.
        figures["last_signal_at"] = max(incident.last_signal_at, signal.detected_at)
        return replace(
            incident,
            **figures,
            status="open",
            resolved_at=None,
            severity=severity,
            peak_impact_usd=peak,
            signal_count=incident.signal_count + 1,
            reopen_count=incident.reopen_count + int(reopened),
        )
    return Incident(
        id=new_id,
        kind=signal.kind,
        series=signal.series,
        direction=signal.direction,
        tenant_id=signal.tenant_id,
        status="open",
        severity=policy.severity(signal.impact_usd),
        dedup_key=dedup_key(signal.kind, signal.series, signal.direction, signal.tenant_id),
        opened_at=signal.detected_at,
        resolved_at=None,
        first_signal_id=signal.id,
        signal_count=1,
        reopen_count=0,
        peak_impact_usd=abs(signal.impact_usd),
        **figures,
    )


def decide(
    incident: Incident, policy: AlertPolicy, muted: str | None
) -> tuple[Incident, list[Notice]]:
    """The triggers an open incident sends now: only at a severity not yet notified. `muted`
    (why it must not be sent) records them as suppressed, as does an acknowledgement."""
    severity = incident.severity
    channels = policy.route(severity)
    if not channels or severity_rank(severity) <= severity_rank(incident.notified_severity):
        return incident, []
    reason = muted or (
        f"acknowledged by {incident.acknowledged_by or 'someone'}"
        if incident.acknowledged_at
        else None
    )
    if reason is not None:
        if severity_rank(severity) <= severity_rank(incident.suppressed_severity):
            return incident, []
        incident = replace(incident, suppressed_severity=severity)
    else:
        notified = tuple(sorted({*incident.notified_channels, *channels}))
        incident = replace(incident, notified_severity=severity, notified_channels=notified)
    snapshot = incident.snapshot("trigger")
    return incident, [
        Notice(incident.id, channel, "trigger", severity, snapshot, reason) for channel in channels
    ]


def resolve(
    incident: Incident, now: dt.datetime, channels: frozenset[str]
) -> tuple[Incident, list[Notice]]:
    """Close the incident and what it sent to the `channels` still configured.
    `notified_severity` stays: within the cooldown a reopened incident pages again only if
    it gets worse."""
    resolved = replace(
        incident,
        status="resolved",
        resolved_at=now,
        notified_channels=(),
        suppressed_severity=None,
    )
    snapshot = resolved.snapshot("resolve")
    return resolved, [
        Notice(incident.id, channel, "resolve", incident.severity, snapshot)
        for channel in incident.notified_channels
        if channel in channels
    ]


def acknowledged(
    incident: Incident, by: str | None, now: dt.datetime
) -> tuple[Incident, list[Notice]]:
    """Acknowledge: later triggers are suppressed; PagerDuty and the webhook are told."""
    if incident.acknowledged_at is not None:
        return incident, []
    incident = replace(incident, acknowledged_at=now, acknowledged_by=by)
    if incident.status != "open":
        return incident, []
    snapshot = incident.snapshot("acknowledge")
    return incident, [
        Notice(incident.id, channel, "acknowledge", incident.severity, snapshot)
        for channel in incident.notified_channels
        if channel in ("pagerduty", "webhook")
    ]


def _mute_reason(mutes: Iterable[Mute], incident: Incident, at: dt.datetime) -> str | None:
    for mute in mutes:
        if mute.covers(incident.series, incident.tenant_id, at):
            return f"muted until {mute.until.isoformat()}"
    return None


# I/O: the job's step and housekeeping.


def _incident(row: tuple[Any, ...]) -> Incident:
    values = dict(zip(COLUMNS, row, strict=True))
    values["details"] = json.loads(values["details"])
    values["notified_channels"] = tuple(c for c in values["notified_channels"].split(",") if c)
    return Incident(**values)


def load_incidents(
    cursor: duckdb.DuckDBPyConnection, where: str, params: dict[str, Any] | list[Any]
) -> list[Incident]:
    rows = cursor.execute(
        f"SELECT {', '.join(COLUMNS)} FROM alert_incidents WHERE {where} ORDER BY id", params
    ).fetchall()
    return [_incident(row) for row in rows]


def _latest(
    cursor: duckdb.DuckDBPyConnection, keys: set[tuple[str, str, str]]
) -> dict[tuple[str, str, str], Incident]:
    """The newest incident of each (kind, series, direction) in `keys`."""
    found: dict[tuple[str, str, str], Incident] = {}
    if keys:
        wanted = [f"{k}\x1f{s}\x1f{d}" for k, s, d in keys]
        for incident in load_incidents(
            cursor,
            "list_contains($keys, concat_ws(chr(31), kind, series, direction))"
            " QUALIFY row_number() OVER (PARTITION BY kind, series, direction"
            " ORDER BY id DESC) = 1",
            {"keys": wanted},
        ):
            found[incident.key] = incident
    return found


_TEXT, _TIME, _MONEY = pa.string(), pa.timestamp("us"), MONEY_TEXT
TYPES: dict[str, pa.DataType] = {
    "id": pa.int64(), "kind": _TEXT, "series": _TEXT, "direction": _TEXT, "tenant_id": _TEXT,
    "status": _TEXT, "severity": _TEXT, "title": _TEXT, "dedup_key": _TEXT,
    "opened_at": _TIME, "last_signal_at": _TIME, "resolved_at": _TIME,
    "first_signal_id": pa.int64(), "last_signal_id": pa.int64(), "signal_count": pa.int64(),
    "reopen_count": pa.int32(), "window_start": _TIME, "window_end": _TIME,
    "actual_usd": _MONEY, "expected_usd": _MONEY, "impact_usd": _MONEY,
    "peak_impact_usd": _MONEY, "score": pa.float64(), "details": _TEXT,
    "notified_severity": _TEXT, "suppressed_severity": _TEXT, "notified_channels": _TEXT,
    "acknowledged_at": _TIME, "acknowledged_by": _TEXT, "group_id": pa.int64(),
}  # fmt: skip
assert tuple(TYPES) == COLUMNS


def _value(column: str, incident: Incident) -> Any:
    value = getattr(incident, column)
    if column == "details":
        return json.dumps(value, sort_keys=True, default=str)
    if column == "notified_channels":
        return ",".join(value)
    if column in MONEY_COLUMNS:
        return str(value)
    return value


def _staged_value(column: str) -> str:
    return f"CAST(s.{column} AS DECIMAL(38, 12))" if column in MONEY_COLUMNS else f"s.{column}"


def save(
    cursor: duckdb.DuckDBPyConnection, incidents: Iterable[Incident], new_ids: set[int]
) -> int:
    """Insert the new incidents and update the others (in the caller's transaction)."""
    rows = [[_value(c, incident) for c in COLUMNS] for incident in incidents]
    if not rows:
        return 0
    with staged(cursor, "staged_incidents", TYPES, rows):
        cursor.execute(
            f"INSERT INTO alert_incidents ({', '.join(COLUMNS)})"
            f" SELECT {', '.join(_staged_value(c) for c in COLUMNS)} FROM staged_incidents s"
            " WHERE list_contains($new, s.id)",
            {"new": sorted(new_ids)},
        )
        cursor.execute(
            f"UPDATE alert_incidents SET"
            f" {', '.join(f'{c} = {_staged_value(c)}' for c in COLUMNS[1:])}"
            " FROM staged_incidents s"
            " WHERE alert_incidents.id = s.id AND NOT list_contains($new, s.id)",
            {"new": sorted(new_ids)},
        )
    return len(rows)


def _new_ids(cursor: duckdb.DuckDBPyConnection, count: int) -> list[int]:
    return next_values(cursor, "alert_incidents_id_seq", count)


class _Book:
    """The incidents a step works with, by id: the open spend anomalies (the groups a new
    one may join), those it changed, and group roots loaded when needed."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, incidents: list[Incident]) -> None:
        self.cursor = cursor
        self.known = {incident.id: incident for incident in incidents}

    def open(self) -> list[Incident]:
        return [i for i in self.known.values() if i.status == "open"]

    def members(self, root_id: int) -> list[Incident]:
        return sorted(
            (i for i in self.open() if (i.group_id or i.id) == root_id), key=lambda i: i.id
        )

    def get(self, incident_id: int) -> Incident:
        if incident_id not in self.known:
            (found,) = load_incidents(self.cursor, "id = $id", {"id": incident_id})
            self.known[incident_id] = found
        return self.known[incident_id]


def _decide_group(
    book: _Book, root_id: int, policy: AlertPolicy, mutes: list[Mute], at: dt.datetime
) -> tuple[Incident | None, list[Notice]]:
    """The group's page decided (`decide`): the root as updated, and the notices."""
    members = book.members(root_id)
    if not members:
        return None, []
    root = book.get(root_id)
    reasons = [_mute_reason(mutes, member, at) for member in members]
    shown, sent = decide(grouping.page(root, members), policy, reasons[0] if all(reasons) else None)
    root = book.known[root_id] = grouping.sent(root, shown)
    return root, sent


def apply_signals(cursor: duckdb.DuckDBPyConnection, low: int, high: int) -> int:
    """The job's step: the signals with low < id <= high, oldest first, into incidents and
    outbox notices. Returns the incidents and notices written."""
    signals = signals_between(cursor, low, high)
    if not signals:
        return 0
    policy = load_policy(cursor)
    mutes = all_mutes(cursor, min(s.detected_at for s in signals))
    current = _latest(cursor, {(s.kind, s.series, s.direction) for s in signals})
    book = _Book(
        cursor, load_incidents(cursor, "status = 'open' AND kind = $kind", {"kind": grouping.KIND})
    )
    # Only the first signal of a series in a chunk can open an incident (the next ones find
    # it open), so the ids needed are known up front and taken in one query.
    firsts: dict[tuple[str, str, str], Signal] = {}
    for signal in signals:
        firsts.setdefault((signal.kind, signal.series, signal.direction), signal)
    fresh = iter(
        _new_ids(
            cursor,
            sum(
                1
                for key, first in firsts.items()
                if key not in current or not _reopens(current[key], first, policy)
            ),
        )
    )
    new_ids: set[int] = set()
    changed: dict[int, Incident] = {}
    notices: list[Notice] = []
    touched: set[int] = set()  # the groups the detector run being read changed
    for index, signal in enumerate(signals):
        key = (signal.kind, signal.series, signal.direction)
        before = current.get(key)
        incident = absorb(before, signal, policy, new_id=0)
        if before is None or incident.id != before.id:
            incident = replace(incident, id=next(fresh))
            new_ids.add(incident.id)
        if incident.group_id is None:
            incident = replace(
                incident, group_id=grouping.group_for(incident, book.open()) or incident.id
            )
        current[key] = changed[incident.id] = book.known[incident.id] = incident
        touched.add(incident.group_id or incident.id)
        following = signals[index + 1] if index + 1 < len(signals) else None
        if following is None or following.detected_at != signal.detected_at:
            # The run's signals are all in: each group it touched decides its page once.
            for root_id in sorted(touched):
                root, sent = _decide_group(book, root_id, policy, mutes, signal.detected_at)
                if root is not None:
                    changed[root.id] = root
                notices += sent
            touched.clear()
    now = max(s.detected_at for s in signals)
    return save(cursor, changed.values(), new_ids) + add_notices(cursor, notices, now)


def housekeeping(cursor: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
    """Resolve the open incidents that have been quiet for their kind's quiet time. A group's
    page resolves with its last open member."""
    policy = load_policy(cursor)
    at = now.replace(tzinfo=None)
    book = _Book(cursor, load_incidents(cursor, "status = 'open'", {}))
    changed: dict[int, Incident] = {}
    notices: list[Notice] = []
    for incident in book.open():
        if incident.last_signal_at + policy.quiet(incident.kind) > at:
            continue
        root_id = incident.group_id or incident.id
        last = book.members(root_id) == [incident]
        sent: list[Notice] = []
        if root_id == incident.id and not last:  # the page stays up: what it sent stays
            closed = replace(incident, status="resolved", resolved_at=at)
        else:
            closed, sent = resolve(incident, at, policy.channels)
        if last and root_id != incident.id:  # the page's resolve, on the root's dedup key
            root = book.get(root_id)
            _, sent = resolve(grouping.page(root, [incident]), at, policy.channels)
            changed[root_id] = book.known[root_id] = replace(
                root, notified_channels=(), suppressed_severity=None
            )
        changed[closed.id] = book.known[closed.id] = closed
        notices += sent
    return save(cursor, changed.values(), set()) + add_notices(cursor, notices, at)


def acknowledge(
    cursor: duckdb.DuckDBPyConnection,
    incident_id: int,
    scope: TenantScope,
    by: str | None,
    now: dt.datetime,
) -> tuple[Incident | None, list[Notice]]:
    """Acknowledge an incident the scope may see (in the caller's transaction); None when
    there is none. Returns the notices it added to the outbox."""
    found = load_incidents(
        cursor, f"id = $id AND {scope.where('tenant_id')}", {"id": incident_id, **scope.params()}
    )
    if not found:
        return None, []
    at = now.replace(tzinfo=None)
    incident, notices = acknowledged(found[0], by, at)
    if incident is not found[0]:
        save(cursor, [incident], set())
        add_notices(cursor, notices, at)
    root_id = incident.group_id or incident.id
    if root_id != incident.id:  # the group's page is acknowledged, on the root's dedup key
        book = _Book(cursor, load_incidents(cursor, "group_id = $id", {"id": root_id}))
        root = book.get(root_id)
        shown, more = acknowledged(grouping.page(root, book.members(root_id) or [incident]), by, at)
        if shown.acknowledged_at != root.acknowledged_at:
            save(cursor, [grouping.sent(root, shown)], set())
            add_notices(cursor, more, at)
            notices = [*notices, *more]
    return incident, notices


def acknowledge_incident(
    cursor: duckdb.DuckDBPyConnection,
    incident_id: int,
    scope: TenantScope,
    by: str | None,
    now: dt.datetime,
) -> tuple[Incident, list[Notice]]:
    """`acknowledge` in a transaction of its own: NotFound when the scope sees no such
    incident, Conflict when a concurrent write (the lifecycle job's) changed it meanwhile."""
    try:
        with transaction(cursor):
            found, notices = acknowledge(cursor, incident_id, scope, by, now)
    except duckdb.TransactionException as exc:
        raise Conflict("the incident changed meanwhile; try again") from exc
    if found is None:
        raise NotFound(f"no alert {incident_id}")
    return found, notices
