"""Sample provider bills, generated from the same traffic spendscope saw: OpenAI Usage and
Costs API pages, Anthropic usage and cost report pages, and FOCUS CSV rows, in the shapes
the real APIs and exports have (docs/reconciliation.md).

`BilledCall`s are what the provider metered (a call, or a day's total of many); `Prices`
says what the provider charged per million tokens of each class for a call, so a bill can
differ from spendscope's prices on purpose (a negotiated discount spendscope does not know,
a tier it does not price). `spendscope demo` imports one built from its own traffic; the
reconciliation bench and tests build theirs with known differences.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from warehouse.pricing.catalog import catalog_periods, default_catalog

MTOK = Decimal(1_000_000)
CLASSES = ("input", "cache_read", "cache_write", "output")
OPENAI_LINE_ITEMS = {"input": "input", "cache_read": "cached input", "output": "output"}
ANTHROPIC_TOKEN_TYPES = {
    "input": "uncached_input_tokens",
    "cache_read": "cache_read_input_tokens",
    "cache_write": "cache_creation.ephemeral_5m_input_tokens",
    "output": "output_tokens",
}


@dataclass(frozen=True)
class BilledCall:
    """Usage as the provider metered it; `input_tokens` counts cache reads and writes too
    (spendscope's rule), the reports split them."""

    start: dt.datetime  # UTC (naive or aware)
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    requests: int = 1
    project: str = ""
    tier: str = ""  # as the provider reports it: batch, priority, ...

    @property
    def day(self) -> dt.date:
        return self.start.date()

    def tokens(self) -> dict[str, int]:
        uncached = self.input_tokens - self.cache_read_tokens - self.cache_write_tokens
        return {
            "input": uncached,
            "cache_read": self.cache_read_tokens,
            "cache_write": self.cache_write_tokens,
            "output": self.output_tokens,
        }


Prices = Callable[[BilledCall], dict[str, Decimal]]  # class -> USD per million tokens


def list_prices(provider: str, model: str, when: dt.datetime) -> dict[str, Decimal]:
    """The catalog's (genai-prices) base price of a model at `when`, per class."""
    match = default_catalog().find(provider, model)
    if match is None:
        raise LookupError(f"no catalog price for {provider}/{model}")
    moment = when.replace(tzinfo=None)
    for period in catalog_periods(match):
        starts = period.effective_from is None or period.effective_from <= moment
        ends = period.effective_to is None or moment < period.effective_to
        if starts and ends and period.min_input_tokens == 0 and period.time_of_day_from is None:
            r = period.rates
            return {
                "input": r.input_mtok,
                "cache_read": r.cache_read_mtok,
                "cache_write": r.cache_write_mtok,
                "output": r.output_mtok,
            }
    raise LookupError(f"no base price for {provider}/{model} at {when}")


def at_list_prices(call: BilledCall) -> dict[str, Decimal]:
    return list_prices(call.provider, call.model, call.start)


Key = tuple[dt.date, str, str, str]  # day, model, project, tier


@dataclass
class Totals:
    requests: int = 0
    tokens: dict[str, int] | None = None
    cost: dict[str, Decimal] | None = None


def totals(calls: Iterable[BilledCall], prices: Prices) -> dict[Key, Totals]:
    """Per day x model x project x tier: requests, tokens and dollars per class."""
    found: dict[Key, Totals] = {}
    for call in calls:
        entry = found.setdefault((call.day, call.model, call.project, call.tier), Totals())
        entry.tokens = entry.tokens or dict.fromkeys(CLASSES, 0)
        entry.cost = entry.cost or dict.fromkeys(CLASSES, Decimal(0))
        entry.requests += call.requests
        rates = prices(call)
        for c, n in call.tokens().items():
            entry.tokens[c] += n
            entry.cost[c] += n * rates[c] / MTOK
    return found


def _days(found: dict[Key, Totals]) -> list[dt.date]:
    return sorted({key[0] for key in found})


def _paged(buckets: Sequence[dict[str, Any]], per_page: int, first: str) -> list[dict[str, Any]]:
    """Buckets in pages of `per_page`, each naming the next (`page_2`, ...)."""
    pages = []
    chunks = [buckets[i : i + per_page] for i in range(0, len(buckets), per_page)] or [[]]
    for number, chunk in enumerate(chunks, 1):
        more = number < len(chunks)
        page = {
            "data": list(chunk),
            "has_more": more,
            "next_page": f"page_{number + 1}" if more else None,
        }
        pages.append({"object": "page", **page} if first == "openai" else page)
    return pages


def _epoch(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())


def openai_pages(
    calls: Iterable[BilledCall], prices: Prices = at_list_prices, per_page: int = 3
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(usage pages, costs pages) of `/v1/organization/usage/completions` grouped by model,
    project_id and batch, and `/v1/organization/costs` grouped by line_item and project_id,
    daily buckets."""
    found = totals(calls, prices)
    usage, costs = [], []
    for day in _days(found):
        bucket = {"object": "bucket", "start_time": _epoch(day), "end_time": _epoch(day) + 86400}
        used, charged = [], []
        for (d, model, project, tier), t in sorted(found.items()):
            if d != day or t.tokens is None or t.cost is None:
                continue
            used.append({
                "object": "organization.usage.completions.result",
                "input_tokens": sum(t.tokens[c] for c in ("input", "cache_read", "cache_write")),
                "output_tokens": t.tokens["output"],
                "input_cached_tokens": t.tokens["cache_read"],
                "input_audio_tokens": 0,
                "output_audio_tokens": 0,
                "num_model_requests": t.requests,
                "project_id": project or None,
                "user_id": None,
                "api_key_id": None,
                "model": model,
                "batch": tier == "batch",
            })  # fmt: skip
            for c, item in OPENAI_LINE_ITEMS.items():
                value = t.cost[c] + (t.cost["cache_write"] if c == "input" else 0)
                charged.append({
                    "object": "organization.costs.result",
                    "amount": {"value": value, "currency": "usd"},
                    "line_item": f"{model}, {item}",
                    "project_id": project or None,
                })  # fmt: skip
        usage.append({**bucket, "results": used})
        costs.append({**bucket, "results": charged})
    return _paged(usage, per_page, "openai"), _paged(costs, per_page, "openai")


def _rfc3339(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def anthropic_pages(
    calls: Iterable[BilledCall], prices: Prices = at_list_prices, per_page: int = 3
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(usage pages, cost pages) of `/v1/organizations/usage_report/messages` grouped by
    model, workspace_id and service_tier, and `/v1/organizations/cost_report` grouped by
    workspace_id and description (amounts in cents, as decimal strings), daily buckets."""
    found = totals(calls, prices)
    usage, costs = [], []
    for day in _days(found):
        bucket = {"starting_at": _rfc3339(day), "ending_at": _rfc3339(day + dt.timedelta(days=1))}
        used, charged = [], []
        for (d, model, project, tier), t in sorted(found.items()):
            if d != day or t.tokens is None or t.cost is None:
                continue
            used.append({
                "uncached_input_tokens": t.tokens["input"],
                "cache_creation": {
                    "ephemeral_5m_input_tokens": t.tokens["cache_write"],
                    "ephemeral_1h_input_tokens": 0,
                },
                "cache_read_input_tokens": t.tokens["cache_read"],
                "output_tokens": t.tokens["output"],
                "server_tool_use": {"web_search_requests": 0},
                "api_key_id": None,
                "workspace_id": project or None,
                "model": model,
                "service_tier": tier or "standard",
                "context_window": "0-200k",
            })  # fmt: skip
            for c, token_type in ANTHROPIC_TOKEN_TYPES.items():
                charged.append({
                    "currency": "USD",
                    "amount": str(t.cost[c] * 100),
                    "workspace_id": project or None,
                    "description": f"{model} {token_type}",
                    "cost_type": "tokens",
                    "context_window": "0-200k",
                    "model": model,
                    "service_tier": tier or "standard",
                    "token_type": token_type,
                })  # fmt: skip
        usage.append({**bucket, "results": used})
        costs.append({**bucket, "results": charged})
    return _paged(usage, per_page, "anthropic"), _paged(costs, per_page, "anthropic")


FOCUS_COLUMNS = (
    "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "BillingAccountId",
    "BillingCurrency", "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart",
    "ChargePeriodEnd", "ChargeCategory", "ChargeClass", "ChargeDescription", "ConsumedQuantity",
    "ConsumedUnit", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
    "InvoiceIssuerName", "ServiceCategory", "ServiceName", "ResourceId", "SkuMeter",
    "SubAccountId", "x_ServiceTier",
)  # fmt: skip
_METER = {"input": "Input Tokens", "cache_read": "Cache Read Input Tokens",
          "cache_write": "Cache Write Input Tokens", "output": "Output Tokens"}  # fmt: skip


def focus_rows(
    calls: Iterable[BilledCall], prices: Prices = at_list_prices, region: str = "us-east-1"
) -> Iterator[dict[str, str]]:
    """FOCUS 1.2 rows of Amazon Bedrock usage, one per day x model x class, plus a tax row."""
    found = totals(calls, prices)
    for (day, model, project, tier), t in sorted(found.items()):
        if t.tokens is None or t.cost is None:
            continue
        month = day.replace(day=1)
        for c, meter in _METER.items():
            if not t.tokens[c] and not t.cost[c]:
                continue
            yield {
                "BilledCost": str(t.cost[c]), "EffectiveCost": str(t.cost[c]),
                "ListCost": str(t.cost[c]), "ContractedCost": str(t.cost[c]),
                "BillingAccountId": "111122223333", "BillingCurrency": "USD",
                "BillingPeriodStart": f"{month}T00:00:00Z",
                "BillingPeriodEnd": f"{(month + dt.timedelta(days=32)).replace(day=1)}T00:00:00Z",
                "ChargePeriodStart": f"{day}T00:00:00Z",
                "ChargePeriodEnd": f"{day + dt.timedelta(days=1)}T00:00:00Z",
                "ChargeCategory": "Usage", "ChargeClass": "",
                "ChargeDescription": f"{model} {meter}",
                "ConsumedQuantity": str(t.tokens[c]), "ConsumedUnit": "Tokens",
                "PricingQuantity": str(Decimal(t.tokens[c]) / 1000), "PricingUnit": "1K Tokens",
                "ProviderName": "AWS", "PublisherName": "Anthropic",
                "InvoiceIssuerName": "AWS", "ServiceCategory": "AI and Machine Learning",
                "ServiceName": "Amazon Bedrock",
                "ResourceId": f"arn:aws:bedrock:{region}::foundation-model/{model}",
                "SkuMeter": meter, "SubAccountId": project, "x_ServiceTier": tier,
            }  # fmt: skip


def focus_csv(rows: Iterable[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, FOCUS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


_NUMBER = "\x00number:"


def dumps(document: Any) -> bytes:
    """JSON with Decimals written as exact numbers (as the APIs send them), never floats."""

    def convert(value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"{_NUMBER}{format(value, 'f')}"
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    text = json.dumps(convert(document), indent=1)
    return re.sub(r'"\\u0000number:(-?[0-9.]+)"', r"\1", text).encode()
