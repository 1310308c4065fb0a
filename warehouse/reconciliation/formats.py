"""One entry for every bill format: `parse_bill(content, name)` recognises the format (or
takes the one named), parses the whole bill and either returns it or raises `BillFileError`
listing the bad rows. Nothing is stored here (`warehouse.reconciliation.store` does that).

Formats: `openai` (Usage and/or Costs API pages, as saved by `spendscope bills pull` or
straight from the API), `anthropic` (usage and/or cost report pages), `focus` (a FOCUS CSV).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from warehouse.reconciliation import anthropic, focus, openai
from warehouse.reconciliation.records import BillFileError, ParsedBill

Format = Literal["openai", "anthropic", "focus"]
FORMATS: tuple[Format, ...] = ("openai", "anthropic", "focus")
MAX_BYTES = 64 * 1024 * 1024


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _first_bucket(document: Any) -> Mapping[str, Any] | None:
    pages = [document] if isinstance(document, Mapping) else document
    if isinstance(document, Mapping) and ("usage" in document or "costs" in document):
        pages = [*(document.get("usage") or []), *(document.get("costs") or [])]
    for page in pages if isinstance(pages, list) else []:
        data = page.get("data") if isinstance(page, Mapping) else None
        for bucket in data if isinstance(data, list) else []:
            if isinstance(bucket, Mapping):
                return bucket
    return None


def detect(document: Any) -> Format | None:
    """openai or anthropic for a JSON bill; None when it says neither."""
    if isinstance(document, Mapping) and document.get("source") in ("openai", "anthropic"):
        source: Format = document["source"]
        return source
    bucket = _first_bucket(document)
    if bucket is None:
        return None
    if "start_time" in bucket:
        return "openai"
    if "starting_at" in bucket:
        return "anthropic"
    return None


def parse_bill(
    content: bytes,
    name: str,
    bill_format: Format | None = None,
    *,
    provider: str | None = None,
    cost_column: str = "BilledCost",
) -> ParsedBill:
    """The bill in `content` (a file's bytes); BillFileError naming every bad row."""
    if len(content) > MAX_BYTES:
        raise BillFileError(name, [f"larger than {MAX_BYTES // (1024 * 1024)} MiB"])
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BillFileError(name, [f"not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    errors: list[str] = []
    stripped = text.lstrip()
    if bill_format in (None, "openai", "anthropic") and stripped[:1] in ("{", "["):
        try:
            document = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise BillFileError(name, [f"not JSON: {exc.msg} (line {exc.lineno})"]) from None
        found = bill_format or detect(document)
        if found is None:
            raise BillFileError(name, ["neither an OpenAI nor an Anthropic usage or cost report"])
        bill = ParsedBill(source=found, format=found)
        (openai.parse if found == "openai" else anthropic.parse)(document, bill, errors)
    elif bill_format in (None, "focus"):
        bill = ParsedBill(source="focus", format="focus")
        focus.parse(text, bill, errors, cost_column=cost_column, provider=provider)
    else:
        raise BillFileError(name, [f"a {bill_format} bill must be JSON"])
    if errors:
        raise BillFileError(name, errors)
    return bill
