"""The alerts API under /api/v1/alerts: incidents and their deliveries, acknowledge, mutes,
and the policy in force (channels shown without their secrets). Tenant-scoped tokens see and
change only their tenant's incidents and mutes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import AfterValidator, BaseModel, Field

from collector.alerting.channel import redacted_url
from collector.api.deps import Context, Cursor, read_scope
from collector.api.errors import COMMON, errors
from collector.api.timestamps import UtcTime
from collector.auth import Scope
from warehouse.core.clock import utc
from warehouse.core.errors import NotFound
from warehouse.incidents import lifecycle as incidents
from warehouse.incidents import mutes
from warehouse.incidents.policy import load_policy
from warehouse.queries import alerts as alert_queries

# Stored times are naive UTC; a response gives them with their offset.
Utc = Annotated[dt.datetime, AfterValidator(utc)]
OptionalUtc = Annotated[dt.datetime | None, AfterValidator(utc)]


class AttemptRecord(BaseModel):
    attempt: int
    started_at: Utc
    duration_ms: float
    status_code: int | None = Field(description="Null when no answer came (connection error).")
    outcome: Literal["sent", "retry", "failed"]
    error: str | None = Field(description="The error, with webhook URLs and keys redacted.")
    next_attempt_at: OptionalUtc = Field(description="For a retry: when it is tried again.")


class DeliveryRecord(BaseModel):
    id: int
    channel: Literal["slack", "pagerduty", "webhook"]
    event: Literal["trigger", "resolve", "acknowledge"]
    severity: str
    status: Literal["pending", "sent", "failed", "suppressed"] = Field(
        description="suppressed: recorded but not sent (muted series, acknowledged incident)."
    )
    note: str | None = Field(description="Why it was suppressed.")
    created_at: Utc
    attempts: int
    next_attempt_at: Utc
    last_attempt_at: OptionalUtc
    sent_at: OptionalUtc
    last_error: str | None
    attempt_log: list[AttemptRecord] | None = Field(
        None, description="Every attempt (on GET /api/v1/alerts/{id} only)."
    )


class AlertRecord(BaseModel):
    id: int
    kind: str
    series: str
    direction: Literal["up", "down"]
    tenant_id: str | None
    status: Literal["open", "resolved"]
    severity: Literal["info", "warning", "critical"] = Field(
        description="From the peak projected dollar impact."
    )
    title: str
    dedup_key: str = Field(description="Stable per series: PagerDuty's dedup_key.")
    opened_at: Utc
    last_signal_at: Utc
    resolved_at: OptionalUtc
    first_signal_id: int
    last_signal_id: int
    signal_count: int
    reopen_count: int = Field(description="Times it fired again within its cooldown.")
    window_start: Utc
    window_end: Utc
    actual_usd: str
    expected_usd: str
    impact_usd: str = Field(description="Latest projected dollar impact (exact decimal).")
    peak_impact_usd: str
    score: float
    details: dict[str, Any] = Field(description="The detector's dimensions and explanation.")
    notified_severity: str | None
    suppressed_severity: str | None
    notified_channels: list[str] = Field(description="Channels a resolve will close.")
    acknowledged_at: OptionalUtc
    acknowledged_by: str | None
    deliveries: list[DeliveryRecord]


class AlertsResponse(BaseModel):
    alerts: list[AlertRecord]


class AcknowledgeRequest(BaseModel):
    by: str | None = Field(None, max_length=200, description="Who acknowledges.")


class MuteRequest(BaseModel):
    series: str = Field(min_length=1, max_length=2000, description="The series key to mute.")
    minutes: int = Field(gt=0, le=60 * 24 * 90, description="For how long.")
    reason: str | None = Field(None, max_length=500)
    tenant_id: str | None = Field(
        None,
        description="Only this tenant's series (an unscoped token; a tenant-scoped token "
        "always mutes its own tenant's).",
    )


class MuteRecord(BaseModel):
    id: int
    series: str
    tenant_id: str | None
    created_at: Utc
    until: Utc
    reason: str | None


class MutesResponse(BaseModel):
    mutes: list[MuteRecord]


class ChannelRecord(BaseModel):
    name: str
    target: str = Field(description="Where it sends, secrets redacted.")


class PolicyResponse(BaseModel):
    policy: dict[str, Any]
    channels: list[ChannelRecord]


router = APIRouter(prefix="/api/v1/alerts", dependencies=[Depends(read_scope)], responses=COMMON)


@router.get("", response_model=AlertsResponse, summary="Incidents and their deliveries")
def alerts(
    scope: Scope,
    cursor: Cursor,
    status: Literal["open", "resolved"] | None = None,
    kind: Literal["spend_anomaly", "runaway_session", "budget", "reconciliation_gap"] | None = None,
    since: Annotated[
        UtcTime | None,
        Query(description="Last signal at or after (without an offset: UTC)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertsResponse:
    """Incidents, newest first, each with what it sent (or suppressed) to which channel."""
    found = alert_queries.incidents(
        cursor, scope, status=status, kind=kind, since=since, limit=limit
    )
    return AlertsResponse(alerts=[AlertRecord(**row) for row in found])


@router.get("/mutes", response_model=MutesResponse, summary="Muted series")
def list_mutes(scope: Scope, cursor: Cursor, active: bool = True) -> MutesResponse:
    """Mutes, newest first; `active=false` includes the expired ones."""
    now = dt.datetime.now(dt.UTC) if active else None
    found = mutes.mutes(cursor, scope, active_at=now)
    return MutesResponse(mutes=[MuteRecord(**m.to_json()) for m in found])


@router.post(
    "/mutes",
    response_model=MuteRecord,
    status_code=201,
    summary="Mute a series",
    responses=errors(400, 403),
)
def add_mute(request: MuteRequest, scope: Scope, cursor: Cursor) -> MuteRecord:
    """Mute a series for a while: its incidents still record, nothing is sent."""
    if not scope.unscoped and request.tenant_id not in (None, scope.tenant_id):
        raise HTTPException(403, "a tenant-scoped token mutes its own tenant's series only")
    tenant = scope.tenant_id if not scope.unscoped else request.tenant_id
    now = dt.datetime.now(dt.UTC)
    until = now + dt.timedelta(minutes=request.minutes)
    mute = mutes.add_mute(cursor, request.series, tenant, until, request.reason, now)
    return MuteRecord(**mute.to_json())


@router.delete("/mutes/{mute_id}", status_code=204, summary="Unmute", responses=errors(404))
def delete_mute(mute_id: int, scope: Scope, cursor: Cursor) -> Response:
    if not mutes.delete_mute(cursor, mute_id, scope):
        raise NotFound(f"no mute {mute_id}")
    return Response(status_code=204)


@router.get("/policy", response_model=PolicyResponse, summary="Thresholds and routes")
def policy(cursor: Cursor, context: Context) -> PolicyResponse:
    """The alert policy in force and the configured channels (secrets redacted)."""
    stored = load_policy(cursor)
    return PolicyResponse(
        policy=stored.to_json(),
        channels=[
            ChannelRecord(
                name=c.name,
                target=redacted_url(c.url) if c.name != "pagerduty" else c.url,
            )
            for c in context.channels
        ],
    )


@router.get(
    "/{incident_id}", response_model=AlertRecord, summary="One incident", responses=errors(404)
)
def alert(incident_id: int, scope: Scope, cursor: Cursor) -> AlertRecord:
    """One incident, its deliveries and every delivery attempt."""
    found = alert_queries.incident(cursor, incident_id, scope)
    if found is None:
        raise NotFound(f"no alert {incident_id}")
    return AlertRecord(**found)


@router.post(
    "/{incident_id}/acknowledge",
    response_model=AlertRecord,
    summary="Acknowledge",
    responses=errors(400, 404, 409),
)
def acknowledge(
    incident_id: int,
    scope: Scope,
    cursor: Cursor,
    context: Context,
    request: AcknowledgeRequest | None = None,
) -> AlertRecord:
    """Acknowledge: later escalations are recorded, not sent; PagerDuty (and the webhook)
    are told if they were paged. Acknowledging again changes nothing."""
    by = request.by if request else None
    _, notices = incidents.acknowledge_incident(
        cursor, incident_id, scope, by, dt.datetime.now(dt.UTC)
    )
    if notices:
        context.wake_dispatcher()
    return alert(incident_id, scope, cursor)
