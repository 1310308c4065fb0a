"""Identity is tenant-scoped: two tenants that both use the session id `sess-42` have two
sessions, end to end through a real `spendscope serve`.

Spans go in over OTLP (the real OTel SDK), an outcome as an OTLP log record, the real jobs
run on their intervals, and each tenant's token reads the API: each sees its own session's
cost, tokens and user (`/sessions`, `/sessions/{id}`), only its own runaway
(`/anomalies`, `/alerts`, and the Slack page names the right tenant and user), and an
outcome reported for `sess-42` by acme is credited to acme's session only. The migration
that brings existing warehouses over (0014) is checked on its own at the end.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from genai_prices import Usage, calc_price
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from sample_data.harness.alert_receivers import Receiver
from sample_data.harness.server import ServerProcess
from tests.support.genai_spans import chat_call, nanos
from warehouse.store import migrate

ADMIN = {"authorization": "Bearer admin-token"}
TOKENS = {"acme": {"authorization": "Bearer acme-token"}}
TOKENS["globex"] = {"authorization": "Bearer globex-token"}
SESSION = "sess-42"
MODEL, INPUT, OUTPUT = "gpt-4o", 20_000, 2_000
# Each tenant's use of sess-42: acme's starts first and stays under the per-session budget,
# globex's goes over it (together they would be over it too, as acme's).
USE = {
    "acme": {"user": "user-a", "feature": "chat", "calls": 2, "ago": 120},
    "globex": {"user": "user-b", "feature": "agent", "calls": 10, "ago": 60},
}
SLACK_PATH = "/services/TTEN/BTEN/tenantIsolation"
ENV = {
    "SPENDSCOPE_API_TOKENS": "admin-token",
    "SPENDSCOPE_TENANT_TOKENS": "acme:acme-token,globex:globex-token",
    "SPENDSCOPE_RUNAWAY_INTERVAL_SECONDS": "1",
    "SPENDSCOPE_ALERT_WARNING_USD": "0.1",
    "SPENDSCOPE_VALUE_UNITS": "chat=ticket_resolved,agent=task_done",
}
DETECTION_FILE = '[runaway]\nsession_budget_usd = "0.5"\n'


def call_cost() -> Decimal:
    price = calc_price(
        Usage(input_tokens=INPUT, output_tokens=OUTPUT),
        MODEL,
        provider_id="openai",
        genai_request_timestamp=dt.datetime.now(dt.UTC),
    )
    return Decimal(price.total_price)


def send_sessions(server: ServerProcess) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "app"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{server.http_url}/v1/traces"))
    )
    tracer = provider.get_tracer("tenant-isolation")
    now = dt.datetime.now(dt.UTC)
    for tenant, use in USE.items():
        start = now - dt.timedelta(seconds=use["ago"])
        root = tracer.start_span(
            "agent run",
            start_time=nanos(start),
            attributes={
                "spendscope.feature": use["feature"],
                "session.id": SESSION,
                "spendscope.tenant": tenant,
                "user.id": use["user"],
            },
        )
        for number in range(use["calls"]):
            chat_call(tracer, root, start + dt.timedelta(seconds=number), MODEL, (INPUT, OUTPUT))
        root.end(end_time=nanos(start + dt.timedelta(seconds=use["calls"])))
    provider.shutdown()


def report_outcomes(server: ServerProcess) -> None:
    """acme reports a ticket resolved in its sess-42 (an OTLP log record naming its tenant);
    an app reports one for sess-42 without saying whose it is."""
    logs = LoggerProvider(resource=Resource.create({"service.name": "app"}))
    logs.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{server.http_url}/v1/logs"))
    )
    logs.get_logger("tenant-isolation").emit(
        event_name="spendscope.outcome",
        attributes={
            "spendscope.outcome.name": "ticket_resolved",
            "spendscope.outcome.id": "acme-ticket-1",
            "session.id": SESSION,
            "spendscope.tenant": "acme",
        },
    )
    logs.shutdown()
    undeclared = {"name": "ticket_resolved", "session_id": SESSION, "id": "whose-ticket"}
    posted = httpx.post(f"{server.http_url}/api/v1/outcomes", json=undeclared, headers=ADMIN)
    assert posted.status_code == 200, posted.text


def slack_messages(slack: Receiver) -> list[str]:
    return [json.dumps(body) for body in slack.bodies() if SESSION in json.dumps(body)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir: Path = tmp_path_factory.mktemp("tenants") / "server"
    data_dir.mkdir(parents=True)
    (data_dir / "detection.toml").write_text(DETECTION_FILE)
    slack = Receiver("slack").up()
    env = ENV | {"SPENDSCOPE_SLACK_WEBHOOK_URL": slack.url(SLACK_PATH)}
    try:
        with ServerProcess(data_dir, env=env) as server:
            send_sessions(server)
            report_outcomes(server)
            deadline = time.monotonic() + 40
            incidents: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                server.wait_attributed(timeout=30)
                response = server.get("/api/v1/alerts", kind="runaway_session")
                assert response.status_code == 200, response.text
                incidents = response.json()["alerts"]
                if incidents and slack_messages(slack):
                    break
                time.sleep(0.5)
            server.wait_attributed(timeout=30)  # the outcomes are sequenced
            yield {"server": server, "slack": slack}
            log = server.log_tail(20_000)
            assert "Traceback" not in log, log
    finally:
        slack.down()


def get(served: dict[str, Any], path: str, headers: dict[str, str], **params: Any) -> Any:
    response = served["server"].get(path, headers=headers, **params)
    assert response.status_code == 200, (path, response.status_code, response.text)
    return response.json()


def ours(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in rows if row["session_id"] == SESSION]


def expect(tenant: str, session: dict[str, Any]) -> None:
    use = USE[tenant]
    assert (session["tenant_id"], session["user_id"]) == (tenant, use["user"])
    assert (session["feature"], session["calls"]) == (use["feature"], use["calls"])
    assert Decimal(session["cost_usd"]) == call_cost() * use["calls"]
    assert session["tokens"]["input"] == INPUT * use["calls"]
    assert session["tokens"]["output"] == OUTPUT * use["calls"]


@pytest.mark.parametrize("tenant", sorted(USE))
def test_each_tenant_lists_only_its_own_session(served: dict[str, Any], tenant: str) -> None:
    (session,) = ours(get(served, "/api/v1/sessions", TOKENS[tenant])["sessions"])
    expect(tenant, session)


@pytest.mark.parametrize("tenant", sorted(USE))
def test_each_tenant_gets_its_own_session_by_id(served: dict[str, Any], tenant: str) -> None:
    detail = get(served, f"/api/v1/sessions/{SESSION}", TOKENS[tenant])
    expect(tenant, detail["session"])
    assert len(detail["calls"]) == USE[tenant]["calls"]
    assert {(c["tenant_id"], c["user_id"]) for c in detail["calls"]} == {
        (tenant, USE[tenant]["user"])
    }
    # Its own token may name its tenant, never the other one.
    assert get(served, f"/api/v1/sessions/{SESSION}", TOKENS[tenant], tenant=tenant) == detail
    other = "globex" if tenant == "acme" else "acme"
    response = served["server"].get(
        f"/api/v1/sessions/{SESSION}", headers=TOKENS[tenant], tenant=other
    )
    assert response.status_code == 404, response.text


def test_an_unscoped_token_names_the_tenant_of_a_shared_session_id(
    served: dict[str, Any],
) -> None:
    listed = ours(get(served, "/api/v1/sessions", ADMIN)["sessions"])
    assert sorted(s["tenant_id"] for s in listed) == ["acme", "globex"]
    ambiguous = served["server"].get(f"/api/v1/sessions/{SESSION}", headers=ADMIN)
    assert ambiguous.status_code == 409, ambiguous.text
    assert "acme" in ambiguous.json()["detail"] and "globex" in ambiguous.json()["detail"]
    for tenant in USE:
        detail = get(served, f"/api/v1/sessions/{SESSION}", ADMIN, tenant=tenant)
        expect(tenant, detail["session"])
    for nobody in ("", "initech"):
        response = served["server"].get(f"/api/v1/sessions/{SESSION}", headers=ADMIN, tenant=nobody)
        assert response.status_code == 404, response.text


def test_the_runaway_is_globex_s_own(served: dict[str, Any]) -> None:
    def runaways(headers: dict[str, str]) -> list[dict[str, Any]]:
        found = get(served, "/api/v1/anomalies", headers, kind="runaway_session")
        return list(found["anomalies"])

    (runaway,) = runaways(TOKENS["globex"])
    assert runaway["tenant_id"] == "globex"
    assert runaway["series"] == f"session:tenant=globex:{SESSION}"
    details = runaway["details"]
    assert (details["tenant_id"], details["user_id"]) == ("globex", "user-b")
    assert details["calls"] == USE["globex"]["calls"]
    assert Decimal(details["spend_usd"]) == call_cost() * USE["globex"]["calls"]
    assert runaways(TOKENS["acme"]) == []
    assert [a["series"] for a in runaways(ADMIN)] == [runaway["series"]]


def test_the_incident_and_its_page_name_globex_and_its_user(served: dict[str, Any]) -> None:
    (incident,) = get(served, "/api/v1/alerts", TOKENS["globex"], kind="runaway_session")["alerts"]
    assert incident["tenant_id"] == "globex"
    assert "user-b" in incident["title"] and "user-a" not in incident["title"]
    assert get(served, "/api/v1/alerts", TOKENS["acme"], kind="runaway_session")["alerts"] == []
    (message,) = slack_messages(served["slack"])
    assert "user-b" in message and "globex" in message
    assert "user-a" not in message and "acme" not in message


def test_an_outcome_is_credited_to_its_own_tenant_s_session(served: dict[str, Any]) -> None:
    (acme,) = get(served, "/api/v1/outcomes", TOKENS["acme"])["outcomes"]
    assert (acme["id"], acme["session_id"], acme["tenant_id"]) == ("acme-ticket-1", SESSION, "acme")
    assert acme["feature"] == "chat"
    assert get(served, "/api/v1/outcomes", TOKENS["globex"])["outcomes"] == []
    # Reported without a tenant, for an id two tenants use: nobody's.
    everyone = {o["id"]: o for o in get(served, "/api/v1/outcomes", ADMIN)["outcomes"]}
    assert everyone["whose-ticket"]["tenant_id"] is None
    assert everyone["whose-ticket"]["feature"] is None

    def session(tenant: str) -> dict[str, Any]:
        return dict(get(served, f"/api/v1/sessions/{SESSION}", ADMIN, tenant=tenant))

    assert (session("acme")["value_unit"], session("acme")["value_units"]) == (
        "ticket_resolved",
        1,
    )
    assert (session("globex")["value_unit"], session("globex")["value_units"]) == ("task_done", 0)
    for tenant, successful in (("acme", 1), ("globex", 0)):
        rows = get(served, "/api/v1/unit-economics", TOKENS[tenant])["features"]
        (row,) = [r for r in rows if r["feature"] == USE[tenant]["feature"]]
        assert (row["sessions"], row["successful_sessions"]) == (1, successful), tenant
    units = {
        r["feature"]: r for r in get(served, "/api/v1/value-units", TOKENS["acme"])["value_units"]
    }
    assert (units["chat"]["units"], units["chat"]["sessions"]) == (1, 1)


# ---- migration 0014: existing warehouses ---------------------------------------------------

SESSION_ROW = (
    "INSERT INTO rollup_sessions VALUES ('sess-42', 'chat', 'user-a', 'acme', NULL, 2, 12, 0, 0,"
    " 0, 0, 0, 0, 0, 0.84, NULL, 0, '2026-11-01 10:00', '2026-11-01 10:06')"
)


def _trace_row(trace: int, tenant: str, user: str, calls: int, cost: str, minute: int) -> str:
    return (
        f"INSERT INTO rollup_traces VALUES ('\\x0{trace}'::BLOB, 'sess-42', '{user}',"
        f" '{tenant}', '2026-11-01', 'chat', NULL, {calls}, 0, 0, 0, 0, 0, 0, 0, {cost}, NULL,"
        f" 0, '2026-11-01 10:0{minute}', '2026-11-01 10:0{minute + 1}')"
    )


def test_migration_0014_splits_merged_sessions_and_keys_runaway_series(tmp_path: Path) -> None:
    path = tmp_path / "spendscope.duckdb"
    migrate.upgrade(path, "0013")
    with duckdb.connect(str(path)) as conn:
        conn.execute(_trace_row(1, "acme", "user-a", 2, "0.14", 0))
        conn.execute(_trace_row(2, "globex", "user-b", 10, "0.70", 5))
        conn.execute(SESSION_ROW)  # as the old rollups merged them: acme's, with both costs
        conn.execute(
            "INSERT INTO alert_signals (kind, series, direction, detected_at, window_start,"
            " window_end, actual_usd, expected_usd, impact_usd, score, tenant_id, title,"
            " details) VALUES ('runaway_session', 'session:sess-42', 'up', now(), now(),"
            " now(), 1, 0, 1, 1, 'a:b%', 't', '{}')"
        )
    migrate.upgrade(path)
    with duckdb.connect(str(path)) as conn:
        rows = conn.execute(
            "SELECT tenant_id, user_id, calls, cost_usd::VARCHAR FROM rollup_sessions ORDER BY 1"
        ).fetchall()
        assert [r[:3] for r in rows] == [("acme", "user-a", 2), ("globex", "user-b", 10)]
        assert [Decimal(r[3]) for r in rows] == [Decimal("0.14"), Decimal("0.70")]
        series = conn.execute("SELECT series FROM alert_signals").fetchall()
        assert series == [("session:tenant=a%3Ab%25:sess-42",)]
    migrate.downgrade(path, "0013")
    with duckdb.connect(str(path)) as conn:
        merged = conn.execute("SELECT tenant_id, calls FROM rollup_sessions").fetchall()
        assert merged == [("acme", 12)]
        assert conn.execute("SELECT series FROM alert_signals").fetchall() == [("session:sess-42",)]
