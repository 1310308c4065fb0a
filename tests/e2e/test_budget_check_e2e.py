"""The budget check end to end: a real `spendscope serve`, the runaway agent
(sample_data/runaway_agent) sending its spans with the real OTel SDK exporter and asking the
check before every call, stopped by a deny exactly when its session's spend reaches the limit;
the live figure equals what the jobs price; a restart keeps the spend; the feature-per-day
and tenant limits deny; the CLI and the client's fail-open / fail-closed settings."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from collector.client_budget import (
    BudgetCheckError,
    BudgetClient,
    BudgetExceeded,
    BudgetUnavailable,
)
from sample_data.harness.child_process import clean_environment
from sample_data.harness.server import ServerProcess, free_port
from sample_data.runaway_agent import agent
from tests.support.paths import REPO

pytestmark = pytest.mark.timeout(600)

ADMIN, ACME = "admin-token", "acme-token"
DETECTION = """
[[budgets]]
name = "support-daily"
scope = "feature"
value = "support-agent"
period = "day"
amount_usd = "0.80"
forecast = false

[[budgets]]
name = "globex-monthly"
scope = "tenant"
value = "globex"
period = "month"
amount_usd = "0.05"

[budget_check]
session_usd = "0.50"
feature_session_usd = { research-agent = "0.20" }
enforce = ["support-daily", "globex-monthly"]
"""
# gpt-4o's list price (genai-prices): $2.50 / $10 per million input / output tokens.
INPUT, OUTPUT = Decimal("2.5") / 10**6, Decimal(10) / 10**6


def step_cost(step: int) -> Decimal:
    return (agent.SYSTEM_TOKENS + agent.STEP_TOKENS * step) * INPUT + agent.OUTPUT_TOKENS * OUTPUT


def expected_run(limit: Decimal, spent: Decimal = Decimal(0)) -> tuple[int, Decimal]:
    """(steps, spend) of a loop stopped once `spent` plus its calls reach `limit`."""
    steps = 0
    while spent < limit:
        spent += step_cost(steps)
        steps += 1
    return steps, spent


def run_agent(server: ServerProcess, session: str, *extra: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "sample_data.runaway_agent", "--url", server.http_url,
         "--token", ADMIN, "--session", session, *extra],
        cwd=REPO, env=clean_environment(), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def check(server: ServerProcess, token: str = ADMIN, **params: str) -> dict[str, object]:
    response = server.get("/api/v1/budget/check", headers={"authorization": f"Bearer {token}"},
                          **params)  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.fixture
def server(tmp_path: Path) -> ServerProcess:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "detection.toml").write_text(DETECTION)
    env = {
        "SPENDSCOPE_API_TOKENS": ADMIN,
        "SPENDSCOPE_TENANT_TOKENS": f"acme:{ACME}",
    }
    return ServerProcess(tmp_path, env)


def test_the_runaway_agent_is_stopped_at_its_session_limit(server: ServerProcess) -> None:
    with server:
        result = run_agent(server, "runaway-1")
        steps, spend = expected_run(Decimal("0.50"))
        assert result["stopped"] and result["scope"] == "session", result
        assert (result["steps"], Decimal(str(result["spend_usd"]))) == (steps, spend)
        assert result["limit_usd"] == "0.5"
        # The live figure is the jobs' figure, to the last digit.
        server.wait_attributed(60)
        priced = server.get("/api/v1/sessions/runaway-1", tenant="acme").json()["session"]
        assert Decimal(priced["cost_usd"]) == spend
        # Session ids are per tenant: the same id elsewhere starts from nothing.
        other = check(server, session_id="runaway-1", tenant="globex")
        assert other["allowed"] and other["scopes"][0]["calls"] == 0  # type: ignore[index]
        # A tenant token sees its session's spend, but not the feature's across tenants.
        mine = check(server, ACME, session_id="runaway-1", feature="support-agent")
        scopes = {s["scope"]: s for s in mine["scopes"]}  # type: ignore[attr-defined]
        assert Decimal(scopes["session"]["spend_usd"]) == spend
        assert scopes["feature"]["spend_usd"] is None and not scopes["feature"]["exceeded"]
    # A restart re-fills the ledger from what the jobs priced: still denied.
    with ServerProcess(server.data_dir, server.extra_env) as server:
        again = check(server, session_id="runaway-1", tenant="acme")
        assert not again["allowed"]
        assert Decimal(again["scopes"][0]["spend_usd"]) == spend  # type: ignore[index]
        # A second session of the feature runs until the feature's day budget is spent.
        second = run_agent(server, "runaway-2")
        assert second["scope"] == "feature", second
        steps, total = expected_run(Decimal("0.80"), spend)
        assert Decimal(str(second["spend_usd"])) == total
        # A feature's own session limit, then the tenant's month budget.
        research = run_agent(server, "r-1", "--feature", "research-agent")
        assert (research["scope"], research["limit_usd"]) == ("session", "0.2")
        globex = run_agent(server, "g-1", "--tenant", "globex", "--feature", "chat")
        assert (globex["scope"], globex["steps"]) == ("tenant", expected_run(Decimal("0.05"))[0])


def test_the_cli_and_the_client_fail_open_or_closed(server: ServerProcess) -> None:
    env = clean_environment()
    with server:
        base = [sys.executable, "-m", "collector", "budget", "check", "--url", server.http_url]
        command = [*base, "--token", ADMIN, "--session", "s-1", "--tenant", "acme"]
        allowed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        assert allowed.returncode == 0, allowed.stderr
        assert "allow" in allowed.stdout and "0.5" in allowed.stdout
        run_agent(server, "s-1")
        denied = subprocess.run(
            [*command, "--json"], env=env, capture_output=True, text=True, check=False
        )
        assert denied.returncode == 1, denied.stderr
        assert json.loads(denied.stdout)["reason"] == "session s-1 reached its limit of $0.5"
        wrong = subprocess.run(
            [*base, "--token", "nope"], env=env, capture_output=True, text=True, check=False
        )
        assert wrong.returncode == 2 and "401" in wrong.stderr
        client = BudgetClient(server.http_url, ADMIN, fail_open=False)
        with pytest.raises(BudgetExceeded) as stopped:
            client.require(session_id="s-1", tenant="acme")
        assert stopped.value.scope == "session" and stopped.value.limit_usd == Decimal("0.5")
        with pytest.raises(BudgetCheckError, match="401"):
            BudgetClient(server.http_url, "nope", fail_open=True).check(session_id="s-1")
    # Nobody listening: the caller's choice.
    gone = f"http://127.0.0.1:{free_port()}"
    opened = BudgetClient(gone, ADMIN, fail_open=True, timeout=0.5).require(session_id="s-1")
    assert opened.allowed and not opened.reachable
    with pytest.raises(BudgetUnavailable):
        BudgetClient(gone, ADMIN, fail_open=False, timeout=0.5).require(session_id="s-1")
    unreachable = subprocess.run(
        [*base[:5], "--url", gone, "--session", "s-1"], env=env, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert unreachable.returncode == 2 and "cannot reach" in unreachable.stderr
