"""End to end: three days of the sample product sent over OTLP/HTTP by the real OTel SDK to
a real `spendscope serve` subprocess, then the savings read through the API and through the
real CLI. The figures are held to the cost API's own sums and to genai-prices' prices."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from sample_data.harness.server import ServerProcess
from sample_data.schedule import Shape
from sample_data.sender import SampleSender
from tests.support.sample_stack import VALUE_UNIT_ENV

DAYS = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(
        tmp_path_factory.mktemp("savings"), env={"SPENDSCOPE_VALUE_UNITS": VALUE_UNIT_ENV}
    ) as process:
        sender = SampleSender(process.http_url, seed=5)
        sender.backfill(DAYS, shape=Shape(peak_sessions_per_hour=5))
        sender.close()
        process.wait_attributed(timeout=120)
        yield process


def api(server: ServerProcess, path: str, status: int = 200, **params: Any) -> Any:
    response = server.get(f"/api/v1{path}", **params)
    assert response.status_code == status, response.text
    return response.json()


def window(body: dict[str, Any]) -> dict[str, str]:
    return {"start": body["start"], "end": body["end"]}


def cost_by_model(server: ServerProcess, feature: str, **params: Any) -> dict[str, Any]:
    body = api(server, "/costs", feature=feature, group_by=["model"], **params)
    return {row["dimensions"]["model"]: row for row in body["rows"]}


def test_the_ranked_opportunities_of_the_sample_product(server: ServerProcess) -> None:
    body = api(server, "/savings")
    found = body["opportunities"]
    kinds = {(o["kind"], o["feature"]) for o in found}
    # The demo's three: the support agent's frontier model where its small model also
    # served, the summarizer's follow-ups resending the document uncached, the batch job.
    assert ("model_swap", "support-agent") in kinds
    assert ("prompt_caching", "summarizer") in kinds
    assert ("batch", "classification") in kinds
    savings = [Decimal(o["monthly_savings"]["usd"]) for o in found]
    assert savings == sorted(savings, reverse=True) and all(s > 0 for s in savings)
    assert Decimal(body["monthly_savings_usd"]) == sum(savings)
    for o in found:
        monthly = o["monthly_savings"]
        assert (
            Decimal(monthly["low_usd"]) <= Decimal(monthly["usd"]) <= Decimal(monthly["high_usd"])
        ), o
        assert monthly["days"] in (DAYS, DAYS + 1) and o["assumptions"]
        assert Decimal(o["cost_usd"]) - Decimal(o["what_if_cost_usd"]) > 0
    swap = next(o for o in found if o["kind"] == "model_swap")
    assert swap["evidence_note"] and "success" in swap["evidence_note"]
    assert {e["model"] for e in swap["evidence"]} >= {swap["model"], swap["to_model"]}


def test_batch_is_the_classification_fallbacks_at_half_price(server: ServerProcess) -> None:
    body = api(server, "/savings", kind=["batch"])
    (batch,) = body["opportunities"]
    assert (batch["feature"], batch["model"]) == ("classification", "gpt-4o-mini")
    # The job's fallback calls to gpt-4o-mini, and only those (its vLLM calls are a GPU
    # share, not a token price): their cost is the cost API's.
    recorded = cost_by_model(server, "classification", **window(body))["gpt-4o-mini"]
    assert batch["calls"] == recorded["calls"]
    assert Decimal(batch["cost_usd"]) == Decimal(recorded["cost_usd"])
    # OpenAI's Batch API: half the standard price.
    assert Decimal(batch["what_if_cost_usd"]) * 2 == Decimal(batch["cost_usd"])


def test_what_if_prices_the_moved_calls_as_the_target(server: ServerProcess) -> None:
    result = api(server, "/savings/what-if", feature="support-agent", to_model="gpt-4o-mini")
    models = cost_by_model(server, "support-agent", **window(result))
    (moved_model,) = [m for m in models if m.startswith("gpt-4o-2")]  # the frontier snapshot
    moved = models[moved_model]
    (feature,) = result["features"]
    assert (result["moved_calls"], feature["calls"]) == (moved["calls"], moved["calls"])
    assert Decimal(feature["cost_usd"]) == Decimal(moved["cost_usd"])
    tokens = moved["tokens"]
    expected = calc_price(
        Usage(
            input_tokens=tokens["input"],
            cache_read_tokens=tokens["cache_read"],
            output_tokens=tokens["output"],
        ),
        model_ref="gpt-4o-mini",
        provider_id="openai",
    ).total_price
    assert Decimal(feature["what_if_cost_usd"]) == expected
    assert result["tokenizer_ratios"] == {f"openai/{moved_model}": "1"}
    assert any("same tokenizer (o200k_base" in line for line in result["assumptions"])
    assert "success" in feature["evidence_note"]
    # Every support call runs in a tool loop: with --no-tools nothing moves.
    none = api(
        server,
        "/savings/what-if",
        feature="support-agent",
        to_model="gpt-4o-mini",
        no_tools="true",
    )
    assert none["moved_calls"] == 0 and none["monthly_savings"]["usd"] == "0"


def test_what_if_errors_say_what_is_wrong(server: ServerProcess) -> None:
    missing = api(server, "/savings/what-if", 404, feature="no-such-feature", to_model="x")
    assert "no recorded model calls" in missing["detail"]
    unpriced = api(
        server, "/savings/what-if", 422, feature="support-agent", to_model="no-such-model"
    )
    assert "no price for openai/no-such-model" in unpriced["detail"]
    mixed = api(server, "/savings/what-if", 422, feature="classification", to_model="gpt-4o")
    assert "give to_provider" in mixed["detail"]  # vLLM and OpenAI calls


def spendscope(
    server: ServerProcess, *args: str, url: bool = True
) -> subprocess.CompletedProcess[str]:
    """`spendscope savings ARGS`, given the server's URL (or, `url` False, its port in
    SPENDSCOPE_HTTP_PORT, as a user of the default address would)."""
    port = server.http_url.rsplit(":", 1)[1]
    return subprocess.run(
        [sys.executable, "-m", "collector", "savings", *args]
        + (["--url", server.http_url] if url else []),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "COLUMNS": "200",
            "PYTHONPATH": str(Path.cwd()),
            "SPENDSCOPE_HTTP_PORT": port,
        },
    )


def test_the_cli_reads_the_same_savings(server: ServerProcess) -> None:
    listed = spendscope(server, "list")
    assert listed.returncode == 0, listed.stderr
    assert "prompt_caching" in listed.stdout and "summarizer" in listed.stdout
    bare = spendscope(server, url=False)  # `spendscope savings` alone: the same list
    assert bare.returncode == 0, bare.stderr
    assert "prompt_caching" in bare.stdout and "Savings opportunities" in bare.stdout
    shown = spendscope(server, "what-if", "--feature", "support-agent", "--to", "gpt-4o-mini")
    assert shown.returncode == 0, shown.stderr
    assert "calls move; saving" in shown.stdout and "Assumptions:" in shown.stdout
    as_json = spendscope(
        server, "what-if", "--feature", "support-agent", "--to", "gpt-4o-mini", "--json"
    )
    body = json.loads(as_json.stdout)
    again = api(server, "/savings/what-if", feature="support-agent", to_model="gpt-4o-mini")
    assert body["features"][0]["cost_usd"] == again["features"][0]["cost_usd"]
    refused = spendscope(server, "what-if", "--feature", "support-agent", "--to", "no-such")
    assert refused.returncode == 2 and refused.stdout == ""
    assert len(refused.stderr.splitlines()) == 1 and "no price" in refused.stderr
    missing = spendscope(server, "what-if", "--feature", "support-agent")
    assert missing.returncode == 2 and "--to MODEL is required" in missing.stderr
