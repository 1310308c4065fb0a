"""The dashboard's one way to data: the spendscope HTTP API (`/api/v1`), over httpx.

Answers are the API's JSON as it is; money stays a decimal string until a page turns it
into a `Decimal`. Failures become one of three typed errors, each with what to do about it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

CONFLICT_RETRIES = 4
Params = Mapping[str, str | int | list[str] | None]


class ApiError(RuntimeError):
    """The API answered with an error; the message carries its detail."""

    hint = "Check the service's log (`spendscope serve`) for the cause."

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ApiUnreachable(ApiError):
    """Nothing answered at the API's address."""

    hint = (
        "Start the service with `spendscope serve` (or everything with `make demo`), or point "
        "the dashboard at it with SPENDSCOPE_API_URL."
    )


class ApiUnauthorized(ApiError):
    """The API needs a (different) bearer token."""

    hint = (
        "The API has auth on: set SPENDSCOPE_API_TOKEN to one of its SPENDSCOPE_API_TOKENS "
        "(or a tenant token) and restart the dashboard."
    )


class ApiForbidden(ApiUnauthorized):
    """The token is valid but may not read this (a tenant token asking for fleet-wide data)."""

    hint = (
        "The dashboard's token may not read this: a tenant-scoped token sees only its own "
        "tenant, and fleet-wide figures need an unscoped one. Set SPENDSCOPE_API_TOKEN to one "
        "of the API's SPENDSCOPE_API_TOKENS to see them."
    )


@dataclass(frozen=True)
class FocusFile:
    """A FOCUS export as the API sent it (`GET /export/focus`)."""

    content: bytes
    file_name: str
    media_type: str
    rows: int
    left_out_calls: int  # unpriced calls without a reported cost: not in the file
    window_start: str
    window_end: str


class ApiClient:
    """GETs on `/api/v1`, with the bearer token when one is set."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = 15.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: Params | None = None) -> dict[str, Any]:
        clean = {key: value for key, value in (params or {}).items() if value is not None}
        return self._send("GET", path, params=clean)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A change (never cached): the API's answer."""
        return self._send("POST", path, json=dict(body or {}))

    def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body: dict[str, Any] = self._request(method, path, **kwargs).json()
        return body

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, f"/api/v1{path}", **kwargs)
        except httpx.TransportError as exc:
            raise ApiUnreachable(f"no answer from {self.base_url}: {exc}") from None
        status = response.status_code
        if status >= 400:
            error = {401: ApiUnauthorized, 403: ApiForbidden}.get(status, ApiError)
            raise error(f"{status} from {path}: {_detail(response)}", status)
        return response

    # The endpoints the pages read.

    def costs(
        self,
        start: dt.datetime,
        end: dt.datetime,
        group_by: tuple[str, ...] = (),
        grain: str = "none",
        filters: Mapping[str, str | None] | None = None,
    ) -> dict[str, Any]:
        return self.get(
            "/costs",
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "group_by": list(group_by),
                "grain": grain,
                **(filters or {}),
            },
        )

    def unit_economics(
        self, start: dt.datetime, end: dt.datetime, tenant: str | None = None
    ) -> dict[str, Any]:
        return self.get(
            "/unit-economics",
            {"start": start.isoformat(), "end": end.isoformat(), "tenant": tenant},
        )

    def latency(
        self,
        start: dt.datetime,
        end: dt.datetime,
        group_by: tuple[str, ...] = ("provider", "model"),
        filters: Mapping[str, str | None] | None = None,
    ) -> dict[str, Any]:
        return self.get(
            "/latency",
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "group_by": list(group_by),
                **(filters or {}),
            },
        )

    def sessions(
        self,
        start: dt.datetime,
        end: dt.datetime,
        limit: int = 50,
        filters: Mapping[str, str | None] | None = None,
    ) -> dict[str, Any]:
        params: dict[str, str | int | None] = {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "limit": limit,
        }
        return self.get("/sessions", {**params, **(filters or {})})

    def session(self, session_id: str, tenant: str | None) -> dict[str, Any]:
        """One tenant's session (None: calls without a tenant): a session id is only unique
        within its tenant."""
        return self.get(f"/sessions/{quote(session_id, safe='')}", {"tenant": tenant or ""})

    def cache_savings(
        self,
        start: dt.datetime,
        end: dt.datetime,
        filters: Mapping[str, str | None] | None = None,
    ) -> dict[str, Any]:
        return self.get(
            "/cache-savings",
            {"start": start.isoformat(), "end": end.isoformat(), **(filters or {})},
        )

    def savings(
        self, start: dt.datetime, end: dt.datetime, tenant: str | None = None
    ) -> dict[str, Any]:
        """The savings opportunities, most dollars per month first."""
        return self.get(
            "/savings", {"start": start.isoformat(), "end": end.isoformat(), "tenant": tenant}
        )

    def savings_what_if(
        self, start: dt.datetime, end: dt.datetime, rule: Mapping[str, str | int | None]
    ) -> dict[str, Any]:
        """A routing rule (feature, to_model, max_input_tokens, no_tools, ...) replayed."""
        params = {"start": start.isoformat(), "end": end.isoformat(), **rule}
        return self.get("/savings/what-if", {k: v for k, v in params.items() if v is not None})

    def search(self, text: str, limit: int = 20) -> dict[str, Any]:
        """The sessions, traces and users whose id is `text` (or starts with it)."""
        return self.get("/search", {"q": text, "limit": limit})

    def prices(self) -> dict[str, Any]:
        return self.get("/prices")

    def jobs(self) -> dict[str, Any]:
        return self.get("/jobs")

    def gpu_efficiency(
        self,
        start: dt.datetime,
        end: dt.datetime,
        grain: str | None = None,
        reference: str | None = None,
    ) -> dict[str, Any]:
        """Fleet-wide: a tenant-scoped token gets `ApiForbidden`."""
        return self.get(
            "/gpu/efficiency",
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "grain": grain,
                "reference": reference,
            },
        )

    def gpu_allocation(
        self, start: dt.datetime, end: dt.datetime, group_by: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        return self.get(
            "/gpu/allocation",
            {"start": start.isoformat(), "end": end.isoformat(), "group_by": list(group_by)},
        )

    def anomalies(
        self, start: dt.datetime, end: dt.datetime, kind: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        return self.get(
            "/anomalies",
            {"start": start.isoformat(), "end": end.isoformat(), "kind": kind, "limit": limit},
        )

    def budgets(self) -> dict[str, Any]:
        return self.get("/budgets")

    def forecast(self, filters: Mapping[str, str | None] | None = None) -> dict[str, Any]:
        """The month-end forecast (with its 80 % interval) of the spend `filters` select
        (feature, tenant, environment, model; none: all of it)."""
        return self.get("/forecast", dict(filters or {}))

    def projections(
        self,
        multiplier: str,
        swaps: list[str] | None = None,
        filters: Mapping[str, str | None] | None = None,
        reference: str | None = None,
    ) -> dict[str, Any]:
        """Spend at 1x, 10x, 100x and `multiplier` times today's traffic, per feature."""
        params: dict[str, str | list[str] | None] = {
            "multiplier": multiplier,
            "swap": swaps or None,
            "reference": reference,
            **(filters or {}),
        }
        return self.get("/projections", params)

    def budget_check(
        self,
        session_id: str | None = None,
        feature: str | None = None,
        tenant: str | None = None,
    ) -> dict[str, Any]:
        """The live allow / deny for a call of this session, feature and tenant (never
        cached: the answer is the ledger's now). A tenant token omits `tenant`."""
        asked = {"session_id": session_id, "feature": feature, "tenant": tenant}
        params = {key: value for key, value in asked.items() if value}
        return self._send("GET", "/budget/check", params=params)

    def focus_export(
        self, start: dt.datetime, end: dt.datetime, grain: str, file_format: str
    ) -> FocusFile:
        """The FOCUS 1.2 file of the window, as the API's bytes and headers."""
        params = {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "grain": grain,
            "format": file_format,
        }
        response = self._request("GET", "/export/focus", params=params)
        headers = response.headers
        disposition = headers.get("Content-Disposition", "")
        name = disposition.split("filename=", 1)[-1].strip('"') or f"focus.{file_format}"
        return FocusFile(
            content=response.content,
            file_name=name,
            media_type=headers.get("Content-Type", "application/octet-stream"),
            rows=int(headers.get("X-Spendscope-Rows", "0")),
            left_out_calls=int(headers.get("X-Spendscope-Left-Out-Calls", "0")),
            window_start=headers.get("X-Spendscope-Window-Start", ""),
            window_end=headers.get("X-Spendscope-Window-End", ""),
        )

    def reconciliation(self, start: dt.date, end: dt.date) -> dict[str, Any]:
        """The organisation's bills against spans: a tenant token gets `ApiForbidden`."""
        return self.get("/reconciliation", {"start": start.isoformat(), "end": end.isoformat()})

    def bill_imports(self) -> dict[str, Any]:
        return self.get("/reconciliation/bills")

    def gate_runs(self) -> dict[str, Any]:
        """The CI gate's runs, newest first: a tenant token gets `ApiForbidden`."""
        return self.get("/gate/runs", {"limit": 100})

    def gate_compare(self, base: int, head: int) -> dict[str, Any]:
        return self.get("/gate/compare", {"base": base, "head": head})

    def alerts(
        self, since: dt.datetime | None = None, status: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        return self.get(
            "/alerts",
            {
                "since": since.isoformat() if since else None,
                "status": status,
                "limit": limit,
            },
        )

    def alert(self, incident_id: int) -> dict[str, Any]:
        """One incident with every delivery attempt (`attempt_log`)."""
        return self.get(f"/alerts/{incident_id}")

    def acknowledge(self, incident_id: int, by: str | None = None) -> dict[str, Any]:
        """Acknowledging again changes nothing, so a 409 (the lifecycle job updated the
        incident at that moment) is retried a few times."""
        attempts = 0
        while True:
            try:
                return self.post(f"/alerts/{incident_id}/acknowledge", {"by": by} if by else {})
            except ApiError as exc:
                attempts += 1
                if exc.status_code != 409 or attempts > CONFLICT_RETRIES:
                    raise
                time.sleep(0.2 * attempts)


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    return str(detail) if detail else response.text[:200]
