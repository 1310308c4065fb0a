"""The tenant-scope checks of the alerts endpoints, for the every-GET-endpoint test in
`tests/collector/api/test_costs_api.py`: an acme token sees and mutes only acme's incidents."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import duckdb
from fastapi.testclient import TestClient

from warehouse.detection.signals import Signal, record_signals


def alert_checks(
    client: TestClient,
    cursor: duckdb.DuckDBPyConnection,
    run_jobs: Callable[[], None],
    admin: Mapping[str, str],
    acme: Mapping[str, str],
    now: dt.datetime,
) -> dict[str, Callable[[], None]]:
    api = "/api/v1/alerts"
    ids: dict[str, int] = {}

    def ours(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The incidents of the signals recorded here (the detectors may open others)."""
        return [a for a in alerts if a["series"] in ("session:s-acme", "session:s-globex")]

    def incidents() -> dict[str, int]:
        if not ids:
            at = now.replace(tzinfo=None)
            record_signals(
                cursor,
                [
                    Signal(
                        kind="runaway_session", series=f"session:s-{tenant}", direction="up",
                        detected_at=at, window_start=at, window_end=at,
                        actual_usd=Decimal(30), expected_usd=Decimal(1), impact_usd=Decimal(29),
                        score=9.0, title=f"session s-{tenant} runs away", tenant_id=tenant,
                    )
                    for tenant in ("acme", "globex")
                ],
            )  # fmt: skip
            run_jobs()
            for alert in ours(client.get(api, headers=dict(admin)).json()["alerts"]):
                ids[alert["tenant_id"]] = alert["id"]
        return ids

    def get(path: str, headers: Mapping[str, str]) -> Any:
        response = client.get(f"{api}{path}", headers=dict(headers))
        assert response.status_code == 200, response.text
        return response.json()

    def alerts() -> None:
        found = incidents()
        assert [a["id"] for a in ours(get("", acme)["alerts"])] == [found["acme"]]
        assert all(a["tenant_id"] == "acme" for a in get("", acme)["alerts"])
        assert len(ours(get("", admin)["alerts"])) == 2

    def alert() -> None:
        found = incidents()
        assert get(f"/{found['acme']}", acme)["series"] == "session:s-acme"
        theirs = client.get(f"{api}/{found['globex']}", headers=dict(acme))
        assert theirs.status_code == 404
        assert (
            client.post(f"{api}/{found['globex']}/acknowledge", headers=dict(acme)).status_code
            == 404
        )

    def mutes() -> None:
        mine = client.post(f"{api}/mutes", json={"series": "x", "minutes": 5}, headers=dict(acme))
        assert mine.status_code == 201 and mine.json()["tenant_id"] == "acme"
        theirs = client.post(
            f"{api}/mutes", json={"series": "y", "minutes": 5, "tenant_id": "globex"},
            headers=dict(admin),
        )  # fmt: skip
        assert [m["series"] for m in get("/mutes", acme)["mutes"]] == ["x"]
        assert len(get("/mutes", admin)["mutes"]) == 2
        gone = client.delete(f"{api}/mutes/{theirs.json()['id']}", headers=dict(acme))
        assert gone.status_code == 404

    def policy() -> None:
        body = get("/policy", acme)
        assert body["channels"] == [] and body["policy"]["channels"] == []

    return {
        api: alerts,
        f"{api}/{{incident_id}}": alert,
        f"{api}/mutes": mutes,
        f"{api}/policy": policy,
    }
