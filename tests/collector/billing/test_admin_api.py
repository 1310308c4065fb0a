"""Pulling the admin APIs from loopback stand-ins in their real shapes: every page followed,
the right authentication and parameters, 429 and 5xx retried (Retry-After honoured) within
the deadline, anything else failing at once without the key in the message."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest

from collector.billing.admin_api import PullError, pull
from sample_data.bills import BilledCall, anthropic_pages, dumps, openai_pages
from sample_data.harness.server import free_port
from tests.support.admin_api_stub import AdminApiStub, anthropic_error, openai_error
from warehouse.reconciliation.formats import parse_bill

START, END = dt.date(2026, 10, 1), dt.date(2026, 10, 6)
KEY = "sk-admin-test-0123456789"
FAST = {"initial_backoff_seconds": 0.01, "max_backoff_seconds": 0.05}


def traffic(provider: str, model: str) -> list[BilledCall]:
    return [
        BilledCall(dt.datetime.combine(START, dt.time(9)) + dt.timedelta(days=d), provider, model,
                   1000 + d, 100, 200, 50 if provider == "anthropic" else 0, project="p1")
        for d in range(5)
    ]  # fmt: skip


def test_openai_pages_are_followed_and_throttling_retried() -> None:
    usage, costs = openai_pages(traffic("openai", "gpt-4o-mini"), per_page=2)  # 3 pages each
    with AdminApiStub("openai", KEY, {"usage": usage, "costs": costs}) as stub:
        stub.fail(
            (429, {"Retry-After": "1", "Content-Type": "application/json"}, '{"error": {}}'),
            openai_error(503, "The server is overloaded", "server_error"),
        )
        started = time.monotonic()
        bundle = pull("openai", KEY, START, END, base_url=stub.url, **FAST)
        waited = time.monotonic() - started
    assert waited >= 0.95  # the Retry-After of the 429
    assert bundle == {"source": "openai", "usage": usage, "costs": costs}
    assert len(bundle["usage"]) == 3 and len(bundle["costs"]) == 3
    assert [b["start_time"] for p in bundle["usage"] for b in p["data"]] == [
        b["start_time"] for p in usage for b in p["data"]
    ]
    gets = stub.requests
    assert len(gets) == 2 + 6
    assert {r["headers"]["Authorization"] for r in gets} == {f"Bearer {KEY}"}
    first = gets[2]["query"]
    assert first["start_time"] == [str(int(dt.datetime(2026, 10, 1, tzinfo=dt.UTC).timestamp()))]
    assert first["bucket_width"] == ["1d"]
    assert first["group_by"] == ["model", "project_id", "api_key_id", "batch"]
    assert [r["query"].get("page") for r in gets[2:5]] == [None, ["page_2"], ["page_3"]]
    assert gets[5]["path"] == "/v1/organization/costs"
    assert gets[5]["query"]["group_by"] == ["line_item", "project_id"]
    # Amounts arrive as JSON numbers and stay exact through the import.
    bill = parse_bill(dumps(bundle), "pulled.json")
    total = sum((line.cost_usd or Decimal(0) for line in bill.lines.values()), Decimal(0))
    expected = sum(
        (r["amount"]["value"] for p in costs for b in p["data"] for r in b["results"]), Decimal(0)
    )
    assert total == expected and len(bill.days) == 5


def test_anthropic_reports_are_pulled_with_its_headers() -> None:
    usage, costs = anthropic_pages(traffic("anthropic", "claude-sonnet-4-5"), per_page=4)
    with AdminApiStub("anthropic", KEY, {"usage": usage, "costs": costs}) as stub:
        stub.fail(anthropic_error(529, "Overloaded", "overloaded_error"))
        bundle = pull("anthropic", KEY, START, END, base_url=stub.url, **FAST)
    assert bundle["usage"] == usage and bundle["costs"] == costs
    gets = stub.requests[1:]
    assert {r["headers"]["x-api-key"] for r in gets} == {KEY}
    assert {r["headers"]["anthropic-version"] for r in gets} == {"2023-06-01"}
    assert gets[0]["path"] == "/v1/organizations/usage_report/messages"
    assert gets[0]["query"]["starting_at"] == ["2026-10-01T00:00:00Z"]
    assert gets[0]["query"]["ending_at"] == ["2026-10-06T00:00:00Z"]
    assert gets[0]["query"]["group_by[]"] == [
        "model", "workspace_id", "api_key_id", "service_tier", "context_window",
    ]  # fmt: skip
    assert [r["query"].get("page") for r in gets] == [None, ["page_2"], None, ["page_2"]]
    bill = parse_bill(dumps(bundle), "pulled.json")
    assert sum(line.cache_write_tokens for line in bill.lines.values()) == 250


def test_a_refusal_fails_at_once_without_the_key() -> None:
    with (
        AdminApiStub("openai", "another-key", {"usage": [], "costs": []}) as stub,
        pytest.raises(PullError) as caught,
    ):
        pull("openai", KEY, START, END, base_url=stub.url, **FAST)
    assert len(stub.requests) == 1
    assert "401" in str(caught.value) and "invalid x-api-key" in str(caught.value)
    assert KEY not in str(caught.value)


def test_errors_are_retried_until_the_deadline() -> None:
    with AdminApiStub("anthropic", KEY, {"usage": [], "costs": []}) as stub:
        stub.fail(*[anthropic_error(500, "Internal server error", "api_error")] * 1000)
        started = time.monotonic()
        with pytest.raises(PullError, match=r"still failing after .* 500 Internal server error"):
            pull("anthropic", KEY, START, END, base_url=stub.url, deadline_seconds=0.5, **FAST)
        assert time.monotonic() - started < 2
    assert len(stub.requests) > 3


def test_a_dead_server_is_retried_then_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(PullError, match="ConnectError"):
        pull("openai", KEY, START, END, base_url=url, deadline_seconds=0.3, **FAST)
