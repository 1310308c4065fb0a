"""Anthropic's Admin API usage and cost reports as bill lines.

Usage (`GET /v1/organizations/usage_report/messages`): per bucket (`starting_at`), results
with `uncached_input_tokens`, `cache_read_input_tokens`, `cache_creation`
(`ephemeral_5m_input_tokens` + `ephemeral_1h_input_tokens`: spendscope's cache writes) and
`output_tokens`; `model`, `workspace_id`, `api_key_id`, `service_tier` and `context_window`
when grouped by them. The report has no request count.

Costs (`GET /v1/organizations/cost_report`): `amount` in the lowest unit of `currency`
(cents, as a decimal string: "123.45" is $1.2345), per `model`, `token_type`
(`uncached_input_tokens`, `cache_read_input_tokens`, `cache_creation.ephemeral_5m_input_tokens`,
... ) and `cost_type` (`tokens`, `web_search`, `code_execution`: the latter two are
`other` charges) when grouped by description, and per `workspace_id`.

A tier is the `service_tier` unless standard (`batch`, `priority`, ...), plus
`long_context` for the 200k-1M context window.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from warehouse.reconciliation.pages import Result, add_results
from warehouse.reconciliation.records import (
    BillLine,
    ParsedBill,
    RowError,
    TokenClass,
    amount,
    count,
    text,
)

PROVIDER = "anthropic"
CENTS = Decimal(100)
_TOKEN_TYPES: dict[str, TokenClass] = {
    "uncached_input_tokens": "input",
    "cache_read_input_tokens": "cache_read",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write",
    "output_tokens": "output",
}


def tier(result: Any) -> str:
    parts = []
    service_tier = text(result.get("service_tier"), "service_tier").lower()
    if service_tier not in ("", "standard"):
        parts.append(service_tier)
    window = text(result.get("context_window"), "context_window").lower()
    if window and not window.startswith("0-"):
        parts.append("long_context")
    return "+".join(parts)


def _cache_writes(result: Any) -> int:
    creation = result.get("cache_creation")
    if creation is None:
        return 0
    if not isinstance(creation, dict):
        raise RowError("cache_creation: must be an object")
    return sum(
        count(creation.get(name), f"cache_creation.{name}", optional=True)
        for name in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")
    )


def usage_line(result: Result) -> BillLine:
    r = result.data
    return BillLine(
        source="anthropic",
        kind="usage",
        period_start=result.start,
        provider=PROVIDER,
        model=text(r.get("model"), "model"),
        project=text(r.get("workspace_id"), "workspace_id"),
        api_key=text(r.get("api_key_id"), "api_key_id"),
        tier=tier(r),
        input_tokens=count(r.get("uncached_input_tokens"), "uncached_input_tokens"),
        cache_read_tokens=count(
            r.get("cache_read_input_tokens"), "cache_read_input_tokens", optional=True
        ),
        cache_write_tokens=_cache_writes(r),
        output_tokens=count(r.get("output_tokens"), "output_tokens", optional=True),
    )


def cost_line(result: Result) -> BillLine:
    r = result.data
    currency = text(r.get("currency"), "currency").upper()
    if currency != "USD":
        raise RowError(f"currency: only USD bills are reconciled, got {currency!r}")
    cost_type = text(r.get("cost_type"), "cost_type")
    token_type = text(r.get("token_type"), "token_type")
    token_class: TokenClass = ""
    if cost_type and cost_type != "tokens":
        token_class = "other"
    elif token_type:
        if token_type not in _TOKEN_TYPES:
            raise RowError(f"token_type: unknown {token_type!r}")
        token_class = _TOKEN_TYPES[token_type]
    return BillLine(
        source="anthropic",
        kind="cost",
        period_start=result.start,
        provider=PROVIDER,
        model=text(r.get("model"), "model"),
        project=text(r.get("workspace_id"), "workspace_id"),
        tier=tier(r),
        token_class=token_class,
        cost_usd=amount(r.get("amount"), "amount") / CENTS,
    )


def line(result: Result) -> BillLine:
    if "uncached_input_tokens" in result.data:
        return usage_line(result)
    if "amount" in result.data:
        return cost_line(result)
    raise RowError("neither a usage result (uncached_input_tokens) nor a cost (amount)")


def parse(document: Any, bill: ParsedBill, errors: list[str]) -> None:
    """Add the lines of a saved Anthropic usage and/or cost report to `bill`."""
    add_results(document, bill, errors, provider=PROVIDER, start_key="starting_at", line=line)
