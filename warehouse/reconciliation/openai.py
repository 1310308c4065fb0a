"""OpenAI's organization Usage and Costs APIs as bill lines.

Usage (`GET /v1/organization/usage/completions`, results `organization.usage.completions.result`):
`input_tokens` includes `input_cached_tokens`, so uncached input is their difference;
`num_model_requests` are the requests; `project_id`, `api_key_id`, `model`, `batch` and
`service_tier` are set when grouped by them. Audio tokens are not reconciled (spans carry
no audio counts).

Costs (`GET /v1/organization/costs`, results `organization.costs.result`): `amount.value` in
`amount.currency` (only USD is taken), per `line_item` and `project_id` when grouped by
them. A line item names the model and what was charged ("gpt-4o-2024-08-06, input",
"gpt-4o-mini, cached input", "gpt-4o output"); one that names no token class is kept as
`other` charges of its model (fine-tuning, tools, ...), one that is absent as the bucket's
total.
"""

from __future__ import annotations

import re
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

USAGE_OBJECT = "organization.usage.completions.result"
COSTS_OBJECT = "organization.costs.result"
PROVIDER = "openai"
_LINE_ITEM = re.compile(
    r"^(?P<model>.+?)[\s,:\-]+(?P<what>cached input|cache read|input|output)(?: tokens)?$",
    re.IGNORECASE,
)
_CLASSES: dict[str, TokenClass] = {
    "cached input": "cache_read",
    "cache read": "cache_read",
    "input": "input",
    "output": "output",
}


def tier(result: Any) -> str:
    if result.get("batch") is True:
        return "batch"
    service_tier = text(result.get("service_tier"), "service_tier").lower()
    return "" if service_tier in ("", "default", "auto") else service_tier


def usage_line(result: Result) -> BillLine:
    r = result.data
    total_input = count(r.get("input_tokens"), "input_tokens", optional=True)
    cached = count(r.get("input_cached_tokens"), "input_cached_tokens", optional=True)
    if cached > total_input:
        raise RowError(f"input_cached_tokens ({cached}) exceeds input_tokens ({total_input})")
    return BillLine(
        source="openai",
        kind="usage",
        period_start=result.start,
        provider=PROVIDER,
        model=text(r.get("model"), "model"),
        project=text(r.get("project_id"), "project_id"),
        api_key=text(r.get("api_key_id"), "api_key_id"),
        tier=tier(r),
        requests=count(r.get("num_model_requests"), "num_model_requests", optional=True),
        input_tokens=total_input - cached,
        cache_read_tokens=cached,
        output_tokens=count(r.get("output_tokens"), "output_tokens", optional=True),
    )


def line_item(item: str) -> tuple[str, TokenClass]:
    """(model, token class) of a costs line item; ('', '') for none."""
    if not item:
        return "", ""
    found = _LINE_ITEM.match(item.strip())
    if found is None:
        return item.strip(), "other"
    return found["model"].strip(" ,"), _CLASSES[found["what"].lower()]


def cost_line(result: Result) -> BillLine:
    r = result.data
    money = r.get("amount")
    if not isinstance(money, dict):
        raise RowError("amount: must be an object with value and currency")
    currency = text(money.get("currency"), "amount.currency").lower()
    if currency != "usd":
        raise RowError(f"amount.currency: only USD bills are reconciled, got {currency!r}")
    model, token_class = line_item(text(r.get("line_item"), "line_item"))
    return BillLine(
        source="openai",
        kind="cost",
        period_start=result.start,
        provider=PROVIDER,
        model=model,
        project=text(r.get("project_id"), "project_id"),
        api_key=text(r.get("api_key_id"), "api_key_id"),
        token_class=token_class,
        cost_usd=amount(money.get("value"), "amount.value"),
    )


def line(result: Result) -> BillLine:
    kind = result.data.get("object")
    if kind == USAGE_OBJECT:
        return usage_line(result)
    if kind == COSTS_OBJECT:
        return cost_line(result)
    raise RowError(f"object: expected {USAGE_OBJECT} or {COSTS_OBJECT}, got {kind!r}")


def parse(document: Any, bill: ParsedBill, errors: list[str]) -> None:
    """Add the lines of a saved OpenAI usage and/or costs document to `bill`."""
    add_results(document, bill, errors, provider=PROVIDER, start_key="start_time", line=line)
