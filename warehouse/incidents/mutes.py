"""Mutes: a series silenced until a time. Its incidents still open, update and resolve, and
the notices they would have sent are recorded as suppressed; nothing is sent.

A mute made with a tenant-scoped token holds for that tenant's series only; an unscoped mute
(`tenant_id` None) holds for the series whatever its tenant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb

from warehouse.store.numbering import insert_numbered
from warehouse.store.scope import TenantScope

_COLUMNS = ("id", "series", "tenant_id", "created_at", "until", "reason")


@dataclass(frozen=True)
class Mute:
    id: int
    series: str
    tenant_id: str | None
    created_at: dt.datetime
    until: dt.datetime
    reason: str | None

    def covers(self, series: str, tenant_id: str | None, at: dt.datetime) -> bool:
        return (
            self.series == series
            and (self.tenant_id is None or self.tenant_id == tenant_id)
            and at < self.until
        )

    def to_json(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in _COLUMNS}


def add_mute(
    cursor: duckdb.DuckDBPyConnection,
    series: str,
    tenant_id: str | None,
    until: dt.datetime,
    reason: str | None,
    now: dt.datetime,
) -> Mute:
    (new_id,) = insert_numbered(
        cursor,
        "alert_mutes",
        ("series", "tenant_id", "created_at", "until", "reason"),
        [[series, tenant_id, now.replace(tzinfo=None), until.replace(tzinfo=None), reason]],
    )
    row = cursor.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM alert_mutes WHERE id = ?", [new_id]
    ).fetchone()
    assert row is not None
    return Mute(*row)


def mutes(
    cursor: duckdb.DuckDBPyConnection,
    scope: TenantScope,
    *,
    active_at: dt.datetime | None = None,
) -> list[Mute]:
    """The mutes the scope may see (a tenant sees its own), newest first; with `active_at`,
    only those in force then."""
    active = "" if active_at is None else "AND until > $at"
    params: dict[str, Any] = scope.params()
    if active_at is not None:
        params["at"] = active_at.replace(tzinfo=None)
    rows = cursor.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM alert_mutes"
        f" WHERE {scope.where('tenant_id')} {active} ORDER BY id DESC",
        params,
    ).fetchall()
    return [Mute(*row) for row in rows]


def delete_mute(cursor: duckdb.DuckDBPyConnection, mute_id: int, scope: TenantScope) -> bool:
    """Remove a mute the scope may see; False when there is none."""
    row = cursor.execute(
        f"DELETE FROM alert_mutes WHERE id = $id AND {scope.where('tenant_id')}",
        {"id": mute_id, **scope.params()},
    ).fetchone()
    return bool(row and row[0])  # the count of rows deleted


def all_mutes(cursor: duckdb.DuckDBPyConnection, since: dt.datetime) -> list[Mute]:
    """Every mute still in force at or after `since` (for the lifecycle job)."""
    rows = cursor.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM alert_mutes WHERE until > ?",
        [since.replace(tzinfo=None)],
    ).fetchall()
    return [Mute(*row) for row in rows]
