"""OpenAPI examples of the cost API's responses, from a real run (docs/api.md), trimmed
to a row or two (no nulls: FastAPI drops them from examples). `ok(example)` is the
`responses` entry a route passes to FastAPI."""

from __future__ import annotations

from typing import Any

TOKENS = {"input": 8400, "output": 1450, "cache_read": 1000, "cache_write": 0, "reasoning": 0}
USAGE = {
    "cost_usd": "0.022265",  # of the 4 priced calls: the unpriced one is not in it
    "calls": 5,
    "unpriced_calls": 1,
    "priced_calls": 4,
    "priced_share": 0.8,
    "error_calls": 1,
    "tokens": TOKENS,
    "reported_cost_usd": "0.0222",  # what the instrumentation reported, where it did
    "cache_savings_usd": "0.00125",
}

COSTS = {
    "currency": "USD",
    "start": "2026-11-02T00:00:00Z",
    "end": "2026-11-03T00:00:00Z",
    "grain": "day",
    "group_by": ["feature"],
    "rows": [
        {"period": "2026-11-02T00:00:00Z", "dimensions": {"feature": "support-agent"}, **USAGE}
    ],
    "truncated": False,
    "totals": USAGE,
}

SESSION = {
    **USAGE,
    "cost_usd": "0.00936",
    "calls": 2,
    "unpriced_calls": 0,
    "priced_calls": 2,
    "priced_share": 1.0,
    "session_id": "s1",
    "feature": "support-agent",
    "user_id": "user-s1",
    "tenant_id": "acme",
    "environment": "prod",
    "traces": 2,
    "first_call_at": "2026-11-02T09:00:00Z",
    "last_call_at": "2026-11-02T09:05:00Z",
    "duration_seconds": 300.0,
}

SESSIONS = {"currency": "USD", "sessions": [SESSION]}

SESSION_DETAIL = {
    "currency": "USD",
    "session": SESSION,
    "value_unit": "ticket_resolved",
    "value_units": 1,
    "calls": [],
    "calls_truncated": False,
}

UNIT_ECONOMICS = {
    "currency": "USD",
    "start": "2026-11-02T00:00:00Z",
    "end": "2026-11-03T00:00:00Z",
    "features": [
        {
            "feature": "support-agent",
            "cost_usd": "0.022265",
            "calls": 5,
            "unpriced_calls": 1,
            "priced_calls": 4,
            "priced_share": 0.8,
            "error_calls": 1,
            "sessions": 4,
            "value_unit": "ticket_resolved",
            "value_units": 2,
            "failed_value_units": 1,
            "successful_sessions": 2,
            "success_rate": 0.5,
            "cost_per_value_unit_usd": "0.0111325",
            "cost_per_successful_session_usd": "0.0111325",
            "cost_per_session_usd": "0.00556625",
            "cost_per_1k_requests_usd": "5.56625",  # over the 4 priced calls
            "latency_calls": 4,  # the error call is not measured
            "latency_p50_ms": 1850.0,
            "latency_p95_ms": 3912.5,
            "ttft_calls": 3,
            "ttft_p50_ms": 420.0,
            "ttft_p95_ms": 611.0,
        }
    ],
}

LATENCY = {
    "currency": "USD",
    "start": "2026-11-02T00:00:00Z",
    "end": "2026-11-03T00:00:00Z",
    "group_by": ["provider", "model"],
    "rows": [
        {
            "dimensions": {"provider": "openai", "model": "gpt-4o"},
            "calls": 120,
            "unpriced_calls": 0,
            "priced_calls": 120,
            "priced_share": 1.0,
            "error_calls": 2,
            "cost_usd": "1.2045",
            "cost_per_1k_requests_usd": "10.0375",
            "latency_calls": 118,
            "latency_p50_ms": 2210.5,
            "latency_p95_ms": 3810.0,
            "ttft_calls": 118,
            "ttft_p50_ms": 512.0,
            "ttft_p95_ms": 880.25,
        },
        {
            "dimensions": {"provider": "openai", "model": "gpt-4o-mini"},
            "calls": 300,
            "unpriced_calls": 0,
            "priced_calls": 300,
            "priced_share": 1.0,
            "error_calls": 0,
            "cost_usd": "0.0561",
            "cost_per_1k_requests_usd": "0.187",
            "latency_calls": 300,
            "latency_p50_ms": 640.0,
            "latency_p95_ms": 1290.0,
            "ttft_calls": 0,
            "ttft_p50_ms": None,
            "ttft_p95_ms": None,
        },
    ],
    "truncated": False,
}

CACHE_SAVINGS = {
    "currency": "USD",
    "start": "2026-11-02T00:00:00Z",
    "end": "2026-11-03T00:00:00Z",
    "rows": [
        {
            "feature": "search",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "calls": 2,
            "unpriced_calls": 0,
            "priced_calls": 2,
            "priced_share": 1.0,
            "input_tokens": 3100,
            "cache_read_tokens": 2048,
            "cost_usd": "0.0003774",
            "cache_savings_usd": "0.0001536",
            "cost_without_cache_usd": "0.000531",
            "savings_rate": 0.28926553672316385,
        }
    ],
    "truncated": False,
    "calls": 3,
    "unpriced_calls": 1,
    "priced_calls": 2,
    "priced_share": 0.6666666666666666,
    "cache_savings_usd": "0.0001536",
    "cost_usd": "0.0003774",
    "cost_without_cache_usd": "0.000531",
}


def ok(example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {"application/json": {"example": example}}}}
