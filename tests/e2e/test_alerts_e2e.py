"""End to end through the real server: signals waiting in its database become incidents in
its scheduled lifecycle job, its dispatcher thread pages loopback Slack and PagerDuty stand-ins
while a dead webhook is retried, and the alerts API lists, acknowledges and mutes them in the
caller's tenant scope; no secret reaches the log, the API or the delivery log, and a dead
channel does not hold the shutdown."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from sample_data.harness.alert_receivers import Receiver
from sample_data.harness.server import ServerProcess, free_port
from warehouse.detection.signals import Signal, record_signals
from warehouse.store.database import Database

ROUTING_KEY = "E2EROUTINGKEYE2EROUTINGKEYE2E123"
SLACK_PATH = "/services/TE2E/BE2E/e2eSecretPath"
ADMIN = {"authorization": "Bearer admin"}
ACME = {"authorization": "Bearer acme-token"}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TimeoutError(what)


def _signal(series: str, impact: str, tenant: str, now: dt.datetime) -> Signal:
    return Signal(
        kind="spend_anomaly",
        series=series,
        direction="up",
        detected_at=now,
        window_start=now - dt.timedelta(hours=1),
        window_end=now,
        actual_usd=Decimal(impact) + 10,
        expected_usd=Decimal(10),
        impact_usd=Decimal(impact),
        score=12.5,
        title=f"{series} spend far above its usual",
        tenant_id=tenant,
        details={"feature": "search", "explanation": {"calls": 0.9, "model_mix": 0.1}},
    )


def test_the_server_pages_acknowledges_mutes_and_stops_with_a_dead_channel(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "server"
    data_dir.mkdir()
    database = Database.open(data_dir / "spendscope.duckdb")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    cursor = database.cursor()
    record_signals(
        cursor,
        [
            _signal("spend:hour:tenant=acme", "900", "acme", now),
            _signal("spend:hour:tenant=globex", "40", "globex", now),
        ],
    )
    cursor.close()
    database.close()

    slack, pagerduty = Receiver("slack").up(), Receiver("pagerduty").up()
    dead_webhook = f"http://127.0.0.1:{free_port()}/hook/dead-secret"
    env = {
        "SPENDSCOPE_API_TOKENS": "admin",
        "SPENDSCOPE_TENANT_TOKENS": "acme:acme-token,globex:globex-token",
        "SPENDSCOPE_SLACK_WEBHOOK_URL": slack.url(SLACK_PATH),
        "SPENDSCOPE_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "SPENDSCOPE_PAGERDUTY_EVENTS_URL": pagerduty.url("/v2/enqueue"),
        "SPENDSCOPE_ALERT_WEBHOOK_URL": dead_webhook,
        "SPENDSCOPE_ALERT_DELIVERY_POLL_SECONDS": "0.1",
        "SPENDSCOPE_ALERT_RETRY_INITIAL_SECONDS": "0.2",
        "SPENDSCOPE_ALERT_RETRY_MAX_SECONDS": "1",
        "SPENDSCOPE_DASHBOARD_URL": "http://127.0.0.1:8501/",
    }
    try:
        with ServerProcess(data_dir, env=env) as server:
            api = f"{server.http_url}/api/v1/alerts"
            # acme's $900 is critical (Slack + PagerDuty), globex's $40 a warning (Slack).
            wait_for(lambda: len(slack.requests) == 2 and len(pagerduty.requests) == 1, "pages")
            (page,) = pagerduty.bodies()
            assert page["event_action"] == "trigger"
            assert page["payload"]["severity"] == "critical"
            assert page["payload"]["group"] == "acme"
            assert {b["text"].split("]")[0] for b in slack.bodies()} == {"[CRITICAL", "[WARNING"}

            # A tenant sees its own incidents only.
            mine = server.client.get(api, headers=ACME).json()["alerts"]
            assert [a["series"] for a in mine] == ["spend:hour:tenant=acme"]
            every = server.client.get(api, headers=ADMIN).json()["alerts"]
            assert len(every) == 2
            # Each alert links to its own incident on the dashboard.
            link = f"http://127.0.0.1:8501/alerts?incident={mine[0]['id']}"
            assert page["client_url"] == link
            assert page["links"] == [{"href": link, "text": "Open the incident in spendscope"}]
            buttons = {
                element["url"]
                for body in slack.bodies()
                for block in body["blocks"]
                if block["type"] == "actions"
                for element in block["elements"]
            }
            assert buttons == {f"http://127.0.0.1:8501/alerts?incident={a['id']}" for a in every}
            globex_id = next(a["id"] for a in every if a["tenant_id"] == "globex")
            assert server.client.get(f"{api}/{globex_id}", headers=ACME).status_code == 404
            assert server.client.get(api).status_code == 401

            # The dead webhook keeps being retried, pending, with the secret redacted.
            def webhook_retried() -> bool:
                alert = server.client.get(f"{api}/{mine[0]['id']}", headers=ADMIN).json()
                hooks = [d for d in alert["deliveries"] if d["channel"] == "webhook"]
                return bool(hooks) and hooks[0]["attempts"] >= 2

            wait_for(webhook_retried, "webhook retries")
            alert = server.client.get(f"{api}/{mine[0]['id']}", headers=ACME).json()
            channels = {d["channel"]: d for d in alert["deliveries"]}
            assert channels["pagerduty"]["status"] == "sent"
            assert channels["slack"]["status"] == "sent"
            assert channels["webhook"]["status"] == "pending"
            log = channels["webhook"]["attempt_log"]
            assert log[0]["outcome"] == "retry" and log[0]["error"].startswith("ConnectError")

            # Acknowledge: PagerDuty is told, on the same dedup_key; again is a no-op.
            acked = server.client.post(
                f"{api}/{mine[0]['id']}/acknowledge", json={"by": "ana"}, headers=ACME
            )
            assert acked.status_code == 200, acked.text
            assert acked.json()["acknowledged_by"] == "ana"
            wait_for(lambda: len(pagerduty.requests) == 2, "acknowledge event")
            ack = pagerduty.bodies()[1]
            assert (ack["event_action"], ack["dedup_key"]) == ("acknowledge", page["dedup_key"])
            again = server.client.post(f"{api}/{mine[0]['id']}/acknowledge", headers=ACME)
            assert again.json()["acknowledged_by"] == "ana"

            # Mutes: a tenant mutes its own series; the admin sees every mute.
            muted = server.client.post(
                f"{api}/mutes",
                json={"series": "spend:hour:tenant=acme", "minutes": 60, "reason": "deploy"},
                headers=ACME,
            )
            assert muted.status_code == 201, muted.text
            assert muted.json()["tenant_id"] == "acme"
            forbidden = server.client.post(
                f"{api}/mutes", json={"series": "x", "minutes": 5, "tenant_id": "globex"},
                headers=ACME,
            )  # fmt: skip
            assert forbidden.status_code == 403
            listed = server.client.get(f"{api}/mutes", headers=ADMIN).json()["mutes"]
            assert [m["id"] for m in listed] == [muted.json()["id"]]
            gone = server.client.delete(f"{api}/mutes/{muted.json()['id']}", headers=ACME)
            assert gone.status_code == 204
            assert server.client.get(f"{api}/mutes", headers=ACME).json()["mutes"] == []

            policy = server.client.get(f"{api}/policy", headers=ADMIN).json()
            assert policy["policy"]["channels"] == ["pagerduty", "slack", "webhook"]
            targets = {c["name"]: c["target"] for c in policy["channels"]}
            assert targets["slack"] == f"http://127.0.0.1:{slack.port}/***"

            metrics = server.client.get(f"{server.http_url}/metrics").text
            assert (
                'spendscope_alert_delivery_attempts_total{channel="pagerduty",outcome="sent"} 2.0'
                in metrics
            )
            # two triggers and an acknowledge wait for the dead webhook
            assert 'spendscope_alert_outbox_pending{channel="webhook"} 3.0' in metrics

            everything = " ".join(
                [server.client.get(f"{api}/{a['id']}", headers=ADMIN).text for a in every]
            )
            for secret in (ROUTING_KEY, "e2eSecretPath", "dead-secret"):
                assert secret not in everything

            started = time.monotonic()
            assert server.stop(timeout=30) == 0
            assert time.monotonic() - started < 15
            text = server.log_path.read_text()
            assert "Traceback" not in text
            for secret in (ROUTING_KEY, "e2eSecretPath", "dead-secret"):
                assert secret not in text
    finally:
        slack.down()
        pagerduty.down()
