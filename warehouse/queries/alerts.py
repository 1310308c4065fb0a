"""Reads behind the alerts API: incidents with what they sent, in the caller's tenant scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from warehouse.incidents.lifecycle import MONEY_COLUMNS, Incident, load_incidents, money
from warehouse.store.scope import TenantScope

NOTICE_COLUMNS = (
    "id", "incident_id", "channel", "event", "severity", "status", "note", "created_at",
    "attempts", "next_attempt_at", "last_attempt_at", "sent_at", "last_error",
)  # fmt: skip
ATTEMPT_COLUMNS = (
    "outbox_id", "attempt", "started_at", "duration_ms", "status_code", "outcome", "error",
    "next_attempt_at",
)  # fmt: skip


def incident_json(incident: Incident) -> dict[str, Any]:
    data = {k: v for k, v in incident.__dict__.items()}
    for key in MONEY_COLUMNS:
        data[key] = money(data[key])
    data["notified_channels"] = list(incident.notified_channels)
    return data


def _notices(cursor: duckdb.DuckDBPyConnection, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        rows = cursor.execute(
            f"SELECT {', '.join(NOTICE_COLUMNS)} FROM alert_outbox"
            " WHERE list_contains($ids, incident_id) ORDER BY id",
            {"ids": ids},
        ).fetchall()
        for row in rows:
            notice = dict(zip(NOTICE_COLUMNS, row, strict=True))
            found[notice["incident_id"]].append(notice)
    return found


def incidents(
    cursor: duckdb.DuckDBPyConnection,
    scope: TenantScope,
    *,
    status: str | None = None,
    kind: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Incidents newest first, each with its deliveries (outbox rows)."""
    where = [scope.where("tenant_id")]
    params: dict[str, Any] = scope.params()
    for column, value in (("status", status), ("kind", kind)):
        if value is not None:
            where.append(f"{column} = ${column}")
            params[column] = value
    if since is not None:
        where.append("last_signal_at >= $since")
        params["since"] = since.astimezone(dt.UTC).replace(tzinfo=None) if since.tzinfo else since
    found = load_incidents(cursor, " AND ".join(where), params)
    found = sorted(found, key=lambda i: i.id, reverse=True)[:limit]
    notices = _notices(cursor, [i.id for i in found])
    return [incident_json(i) | {"deliveries": notices[i.id]} for i in found]


def incident(
    cursor: duckdb.DuckDBPyConnection, incident_id: int, scope: TenantScope
) -> dict[str, Any] | None:
    """One incident with its deliveries, each with every attempt made."""
    found = load_incidents(
        cursor, f"id = $id AND {scope.where('tenant_id')}", {"id": incident_id, **scope.params()}
    )
    if not found:
        return None
    notices = _notices(cursor, [incident_id])[incident_id]
    rows = cursor.execute(
        f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM alert_deliveries WHERE incident_id = ?"
        " ORDER BY id",
        [incident_id],
    ).fetchall()
    attempts: dict[int, list[dict[str, Any]]] = {n["id"]: [] for n in notices}
    for row in rows:
        attempt = dict(zip(ATTEMPT_COLUMNS, row, strict=True))
        attempts[attempt.pop("outbox_id")].append(attempt)
    return incident_json(found[0]) | {
        "deliveries": [n | {"attempt_log": attempts[n["id"]]} for n in notices]
    }
