"""FOCUS 1.x cost and usage files (CSV) as bill lines: the export format of AWS, Azure and
Google Cloud billing, for Bedrock, Azure OpenAI and Vertex AI.

Columns read (FOCUS 1.2 names; 1.3's `ServiceProviderName` works as `ProviderName`):
`ChargePeriodStart`, `ChargeCategory` (only `Usage` rows are per-model usage; `Tax`,
`Credit`, `Purchase`, `Adjustment` rows are skipped and counted), `BilledCost` (the
invoiced amount; `cost_column` picks `EffectiveCost` or another), `BillingCurrency` (USD
only), `ServiceName` / `ProviderName` (which provider: Bedrock -> `aws.bedrock`, Azure
OpenAI -> `azure.ai.openai`, Vertex AI / Gemini -> `gcp.vertex_ai`; rows of other services
are skipped unless `ServiceCategory` is `AI and Machine Learning`), `ConsumedQuantity` with
`ConsumedUnit` (`Tokens`, `1K Tokens`, `1M Tokens`, ...), `SubAccountId` (the project).

FOCUS has no model or token-class column. The model is the first found of an `x_Model` /
`x_ModelId` / `x_ModelName` column, a `model` tag in `Tags`, the model in a Bedrock or
Vertex `ResourceId` (`.../foundation-model/<id>`, `.../models/<id>`), else the `SkuMeter`
(or `ChargeDescription`) without its token-class and unit words. The token class comes from
an `x_TokenType` column, else those words (`cached input`/`cache read`, `cache write`,
`input`/`prompt`, `output`/`completion`); a row in another unit, or naming no class, is an
`other` charge. Rows of one day and key are summed into one line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Mapping

from warehouse.reconciliation.records import (
    BillLine,
    ParsedBill,
    RowError,
    TokenClass,
    amount,
    timestamp,
)

REQUIRED = ("ChargePeriodStart", "ChargeCategory", "BillingCurrency", "ServiceName")
AI_CATEGORY = "ai and machine learning"
_UNIT = re.compile(r"^(?:(?P<n>[\d,]+)\s*(?P<suffix>[km])?|(?P<word>thousand|million))?\s*tokens?$")
_SCALE = {"k": 1_000, "m": 1_000_000, "thousand": 1_000, "million": 1_000_000}
_CLASS_WORDS: tuple[tuple[re.Pattern[str], TokenClass], ...] = (
    (re.compile(r"cached[\s_-]*input|cache[\s_-]*read|cache[\s_-]*hit"), "cache_read"),
    (re.compile(r"cache[\s_-]*(write|creation)"), "cache_write"),
    (re.compile(r"\b(input|inp|prompt)\b"), "input"),
    (re.compile(r"\b(output|outp|completion|response)\b"), "output"),
)
_NOISE = re.compile(
    r"\b(cached|cache|read|write|creation|input|inp|output|outp|prompt|completion|response|"
    r"tokens?|\d+[km]?|per|text|glbl|global|regnl|regional|batch)\b",
    re.IGNORECASE,
)
_RESOURCE_MODEL = re.compile(r"(?:foundation-model|inference-profile|models)/(?P<model>[^/]+)$")


def provider_of(row: Mapping[str, str]) -> str | None:
    """The span provider a FOCUS row's service is; None for a service that is not AI."""
    service = row.get("ServiceName", "").lower()
    vendor = (row.get("ServiceProviderName") or row.get("ProviderName") or "").lower()
    if "bedrock" in service:
        return "aws.bedrock"
    if "openai" in service and ("azure" in vendor or "microsoft" in vendor or "azure" in service):
        return "azure.ai.openai"
    if "vertex" in service or "gemini" in service:
        return "gcp.vertex_ai"
    if row.get("ServiceCategory", "").lower() == AI_CATEGORY:
        return vendor or service or None
    return None


def _column(row: Mapping[str, str], *names: str) -> str:
    lowered = {key.lower(): value for key, value in row.items() if key}
    for name in names:
        value = (lowered.get(name.lower()) or "").strip()
        if value:
            return value
    return ""


def model_of(row: Mapping[str, str]) -> str:
    found = _column(row, "x_Model", "x_ModelId", "x_ModelName")
    if found:
        return found
    tags = row.get("Tags", "").strip()
    if tags:
        try:
            parsed = json.loads(tags)
        except json.JSONDecodeError:
            raise RowError(f"Tags: not a JSON object: {tags[:60]!r}") from None
        if isinstance(parsed, dict):
            for key in ("model", "Model", "x_model"):
                if isinstance(parsed.get(key), str) and parsed[key]:
                    return str(parsed[key])
    resource = _RESOURCE_MODEL.search(row.get("ResourceId", "").strip())
    if resource:
        return resource["model"]
    meter = row.get("SkuMeter", "").strip() or row.get("ChargeDescription", "").strip()
    return re.sub(r"\s+", " ", _NOISE.sub(" ", meter)).strip(" -_,") or meter


def token_class_of(row: Mapping[str, str]) -> TokenClass:
    given = _column(row, "x_TokenType").lower()
    words = (
        given
        or " ".join(
            row.get(name, "") for name in ("SkuMeter", "ChargeDescription", "SkuPriceDetails")
        ).lower()
    )
    for pattern, token_class in _CLASS_WORDS:
        if pattern.search(words):
            return token_class
    return "other"


def tokens_per_unit(unit: str) -> int | None:
    """How many tokens one `ConsumedUnit` is (None: not a token unit)."""
    found = _UNIT.match(unit.strip().lower())
    if found is None:
        return None
    if found["word"]:
        return _SCALE[found["word"]]
    if found["n"]:
        return int(found["n"].replace(",", "")) * _SCALE.get(found["suffix"] or "", 1)
    return 1


def tier_of(row: Mapping[str, str]) -> str:
    given = _column(row, "x_ServiceTier", "x_PricingTier").lower()
    if given and given not in ("standard", "default", "on-demand", "on demand"):
        return given
    meter = f"{row.get('SkuMeter', '')} {row.get('ChargeDescription', '')}".lower()
    if "batch" in meter:
        return "batch"
    if "long context" in meter or "long-context" in meter:
        return "long_context"
    return ""


def focus_line(row: Mapping[str, str], cost_column: str, provider: str) -> BillLine:
    currency = row.get("BillingCurrency", "").strip().upper()
    if currency != "USD":
        raise RowError(f"BillingCurrency: only USD bills are reconciled, got {currency!r}")
    start = timestamp(row.get("ChargePeriodStart"), "ChargePeriodStart")
    token_class = token_class_of(row)
    tokens = 0
    quantity = row.get("ConsumedQuantity", "").strip()
    per_unit = tokens_per_unit(row.get("ConsumedUnit", ""))
    if quantity and per_unit is not None and token_class != "other":
        exact = amount(quantity, "ConsumedQuantity") * per_unit
        if exact < 0 or exact != exact.to_integral_value():
            raise RowError(f"ConsumedQuantity: not a whole number of tokens: {quantity!r}")
        tokens = int(exact)
    elif token_class != "other":
        token_class = "other"  # a token class in another unit: charged, not counted
    return BillLine(
        source="focus",
        kind="cost",
        period_start=dt.datetime.combine(start.date(), dt.time()),
        provider=provider,
        model=model_of(row),
        project=row.get("SubAccountId", "").strip(),
        tier=tier_of(row),
        token_class=token_class,
        input_tokens=tokens if token_class == "input" else 0,
        cache_read_tokens=tokens if token_class == "cache_read" else 0,
        cache_write_tokens=tokens if token_class == "cache_write" else 0,
        output_tokens=tokens if token_class == "output" else 0,
        cost_usd=amount(row.get(cost_column), cost_column),
    )


def parse(
    content: str,
    bill: ParsedBill,
    errors: list[str],
    *,
    cost_column: str = "BilledCost",
    provider: str | None = None,
) -> None:
    """Add a FOCUS CSV's usage rows to `bill` (`provider`: the span provider of every row,
    instead of the one its service names)."""
    reader = csv.DictReader(io.StringIO(content), restval="")
    header = reader.fieldnames or []
    missing = [c for c in (*REQUIRED, cost_column) if c not in header]
    if not any(c in header for c in ("ProviderName", "ServiceProviderName")):
        missing.append("ProviderName")
    if missing:
        errors.append(f"not a FOCUS file: missing column(s) {', '.join(missing)}")
        return
    for number, row in enumerate(reader, 1):
        where = f"row {number} (line {reader.line_num})"
        if None in row:
            errors.append(f"{where}: more fields than the header has")
            continue
        if row.get("ChargeCategory", "").strip() != "Usage":
            bill.skipped_rows += 1
            continue
        row_provider = provider or provider_of(row)
        if row_provider is None:
            bill.skipped_rows += 1
            continue
        try:
            bill.add(focus_line(row, cost_column, row_provider))
        except RowError as exc:
            errors.append(f"{where}: {exc}")
