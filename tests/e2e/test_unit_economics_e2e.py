"""End to end: spans in over OTLP/HTTP from the real OTel SDK to a real `spendscope serve`
subprocess, outcomes in over `POST /api/v1/outcomes`, and the unit economics out of the API
equal to a hand-computed expectation, costs computed with genai-prices' own `calc_price`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from genai_prices import Usage, calc_price
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from sample_data.harness.server import ServerProcess
from tests.support.genai_spans import chat_call, nanos

DAY = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
ADMIN, ACME = "admin-token", "acme-token"
ENV = {
    "SPENDSCOPE_VALUE_UNITS": "support-agent=ticket_resolved,search=search_succeeded",
    "SPENDSCOPE_API_TOKENS": ADMIN,
    "SPENDSCOPE_TENANT_TOKENS": f"acme:{ACME}",
}
LAST_DIGIT = Decimal("1e-24")  # ratios are given to 24 decimal places


@dataclass(frozen=True)
class Call:
    model: str
    minute: int
    input_tokens: int  # cache reads included, as OTel GenAI and genai-prices count them
    output_tokens: int
    cache_read_tokens: int = 0
    failed: bool = False

    def start(self, hour: int) -> dt.datetime:
        return DAY + dt.timedelta(hours=hour, minutes=self.minute)

    def cost(self, hour: int) -> Decimal:
        usage = Usage(
            input_tokens=self.input_tokens,
            cache_read_tokens=self.cache_read_tokens,
            output_tokens=self.output_tokens,
        )
        price = calc_price(
            usage, self.model, provider_id="openai", genai_request_timestamp=self.start(hour)
        )
        return Decimal(price.total_price)


@dataclass(frozen=True)
class Request:
    """One trace: a root span naming the feature, session, user and tenant; model calls
    under it."""

    feature: str
    session: str
    tenant: str
    hour: int
    calls: tuple[Call, ...]

    def cost(self) -> Decimal:
        return sum((call.cost(self.hour) for call in self.calls), Decimal(0))


MINI, FULL = "gpt-4o-mini", "gpt-4o"
REQUESTS = {
    # acme: a ticket resolved after a failed attempt and a retry, and an abandoned session
    "first-try": Request(
        "support-agent", "s1", "acme", 9, (Call(MINI, 0, 1200, 300, failed=True),)
    ),
    "retry": Request("support-agent", "s1", "acme", 9, (Call(FULL, 5, 2500, 400, 1000),)),
    "abandoned": Request("support-agent", "s2", "acme", 10, (Call(MINI, 0, 800, 150),)),
    # globex: a ticket resolved (reported by trace id), one that failed, a search session
    "resolved": Request("support-agent", "s3", "globex", 11, (Call(FULL, 0, 3000, 500),)),
    "failed": Request("support-agent", "s4", "globex", 12, (Call(MINI, 0, 900, 100),)),
    "search": Request(
        "search",
        "s5",
        "globex",
        13,
        (Call(MINI, 0, 1500, 50, 1024), Call(MINI, 1, 1600, 60, 1024)),
    ),
}


def send_spans(server: ServerProcess) -> dict[str, str]:
    """Every request as the OTel SDK exports it; returns each one's trace id (hex)."""
    provider = TracerProvider(resource=Resource.create({"service.name": "helpdesk"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{server.http_url}/v1/traces"))
    )
    tracer = provider.get_tracer("e2e")
    trace_ids = {}
    for name, request in REQUESTS.items():
        start = DAY + dt.timedelta(hours=request.hour)
        root = tracer.start_span(
            "handle",
            start_time=nanos(start),
            attributes={
                "spendscope.feature": request.feature,
                "session.id": request.session,
                "spendscope.tenant": request.tenant,
                "user.id": f"user-{request.session}",
            },
        )
        for call in request.calls:
            chat_call(
                tracer,
                root,
                call.start(request.hour),
                call.model,
                (call.input_tokens, call.output_tokens),
                duration_ns=2 * 10**9,
                attributes={"gen_ai.usage.cache_read.input_tokens": call.cache_read_tokens},
                error="upstream timeout" if call.failed else None,
            )
        root.end(end_time=nanos(start) + 10 * 60 * 10**9)
        trace_ids[name] = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_ids


def post_outcomes(server: ServerProcess, trace_ids: dict[str, str]) -> None:
    at = DAY.isoformat()
    outcomes: list[dict[str, Any]] = [
        {"id": "o-s1", "name": "ticket_resolved", "session_id": "s1", "occurred_at": at},
        {"id": "o-s3", "name": "ticket_resolved", "trace_id": trace_ids["resolved"]},
        {"id": "o-s4", "name": "ticket_resolved", "session_id": "s4", "success": False},
        {"name": "search_succeeded", "session_id": "s5", "count": 3, "occurred_at": at},
        # Another ticket of s3, resolved the next day: outside the day's window.
        {
            "name": "ticket_resolved",
            "session_id": "s3",
            "occurred_at": (DAY + dt.timedelta(days=1, hours=2)).isoformat(),
        },
        # Not a value unit of any feature.
        {"id": "o-x", "name": "draft_saved", "session_id": "s2", "occurred_at": at},
    ]
    for outcome in outcomes[1:3]:
        outcome["occurred_at"] = (DAY + dt.timedelta(hours=14)).isoformat()
    response = httpx.post(
        f"{server.http_url}/api/v1/outcomes",
        json=outcomes,
        headers={"authorization": f"Bearer {ADMIN}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == len(outcomes)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir: Path = tmp_path_factory.mktemp("unit-economics") / "server"
    with ServerProcess(data_dir, env=ENV) as process:
        post_outcomes(process, send_spans(process))
        process.wait_attributed(timeout=30)
        yield process
        log = process.log_tail(20_000)
        assert "Traceback" not in log, log


def expected(
    requests: list[Request], value_units: int, failed: int, successful: int
) -> dict[str, Any]:
    cost = sum((r.cost() for r in requests), Decimal(0))
    calls = sum(len(r.calls) for r in requests)
    sessions = len({r.session for r in requests})
    return {
        "cost_usd": cost,
        "calls": calls,
        "unpriced_calls": 0,
        "error_calls": sum(c.failed for r in requests for c in r.calls),
        "sessions": sessions,
        "value_units": value_units,
        "failed_value_units": failed,
        "successful_sessions": successful,
        "success_rate": successful / sessions if sessions else None,
        "cost_per_value_unit_usd": cost / value_units if value_units else None,
        "cost_per_successful_session_usd": cost / successful if successful else None,
        "cost_per_session_usd": cost / sessions if sessions else None,
        "cost_per_1k_requests_usd": cost * 1000 / calls if calls else None,
    }


def unit_economics(server: ServerProcess, token: str) -> dict[str, dict[str, Any]]:
    response = server.get(
        "/api/v1/unit-economics",
        headers={"authorization": f"Bearer {token}"},
        start=DAY.isoformat(),
        end=(DAY + dt.timedelta(days=1)).isoformat(),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["start"], body["end"]) == ("2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z")
    return {row["feature"]: row for row in body["features"]}


def assert_matches(got: dict[str, Any], want: dict[str, Any]) -> None:
    for key, value in want.items():
        if key.endswith("_usd") and value is not None:
            assert got[key] is not None, key
            # Exact cost; ratios exact to their 24th decimal place.
            assert abs(Decimal(got[key]) - value) <= (0 if key == "cost_usd" else LAST_DIGIT), (
                key,
                got[key],
                value,
            )
        elif key == "success_rate" and value is not None:
            assert got[key] == pytest.approx(value), key
        else:
            assert got[key] == value, (key, got[key], value)


def test_unit_economics_equal_the_hand_computed_numbers(served: ServerProcess) -> None:
    support = [r for r in REQUESTS.values() if r.feature == "support-agent"]
    rows = unit_economics(served, ADMIN)
    assert set(rows) == {"support-agent", "search"}
    # Four sessions, every call's cost (the failed attempt and the abandoned session too),
    # two tickets resolved in the day (s1, s3), one attempt failed (s4).
    assert_matches(rows["support-agent"], expected(support, 2, 1, 2))
    assert rows["support-agent"]["value_unit"] == "ticket_resolved"
    search = [REQUESTS["search"]]
    assert_matches(rows["search"], expected(search, 3, 0, 1))
    # The numbers themselves are not zero: the catalog priced every call.
    assert Decimal(rows["support-agent"]["cost_usd"]) > Decimal("0.01")


def test_a_tenant_token_gets_its_own_unit_economics(served: ServerProcess) -> None:
    acme = [r for r in REQUESTS.values() if r.tenant == "acme"]
    rows = unit_economics(served, ACME)
    assert_matches(rows["support-agent"], expected(acme, 1, 0, 1))
    assert_matches(rows["search"], expected([], 0, 0, 0))


def test_costs_by_feature_and_day_add_up_to_the_same_money(served: ServerProcess) -> None:
    response = served.get(
        "/api/v1/costs",
        group_by="feature",
        grain="day",
        start=DAY.isoformat(),
        end=(DAY + dt.timedelta(days=1)).isoformat(),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    by_feature = {row["dimensions"]["feature"]: Decimal(row["cost_usd"]) for row in body["rows"]}
    want = {
        feature: sum((r.cost() for r in REQUESTS.values() if r.feature == feature), Decimal(0))
        for feature in ("support-agent", "search")
    }
    assert by_feature == want
    assert Decimal(body["totals"]["cost_usd"]) == sum(want.values())
    cached = sum(c.cache_read_tokens for r in REQUESTS.values() for c in r.calls)
    assert body["totals"]["tokens"]["cache_read"] == cached
