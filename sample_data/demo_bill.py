"""The sample bill `spendscope demo` imports: what OpenAI and Anthropic would bill for the
sample product's traffic, built from the service's own per-day token counts
(`GET /api/v1/costs` by provider, model and day) with the differences a real team finds:

- OpenAI counts 3 % more traffic than reached spendscope (a service without the exporter);
- OpenAI bills gpt-4o-mini 10 % below its list price: a negotiated discount the demo's
  price book does not have (add an override and the gap closes);
- Anthropic bills claude-3-5-sonnet at the negotiated rate the demo configured (it
  reconciles) and everything else at list; the preview model no price list knows is billed
  at $3 / $15 per million tokens, so its calls show as unpriced in spendscope.

The bill covers the whole UTC days before today, as OpenAI Usage and Costs pages and
Anthropic usage and cost report pages (`sample_data.bills`), written to the data directory
(`bills/`) and imported through `POST /api/v1/reconciliation/bills`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import httpx

from sample_data.bills import (
    BilledCall,
    Prices,
    anthropic_pages,
    dumps,
    list_prices,
    openai_pages,
)
from sample_data.product import NEGOTIATED_PRICE

UNTRACKED = Decimal("1.03")
DISCOUNTED, DISCOUNT = "gpt-4o-mini", Decimal("0.90")
PREVIEW_PRICE = {"input": Decimal(3), "cache_read": Decimal(3), "cache_write": Decimal(3),
                 "output": Decimal(15)}  # fmt: skip


def billed_prices(call: BilledCall) -> dict[str, Decimal]:
    if call.model == NEGOTIATED_PRICE["model"]:
        rate_in, rate_out = (
            Decimal(NEGOTIATED_PRICE["input_mtok"]),
            Decimal(NEGOTIATED_PRICE["output_mtok"]),
        )
        return {"input": rate_in, "cache_read": rate_in, "cache_write": rate_in, "output": rate_out}
    try:
        rates = list_prices(call.provider, call.model, call.start)
    except LookupError:
        return dict(PREVIEW_PRICE)
    factor = DISCOUNT if call.model.startswith(DISCOUNTED) else Decimal(1)
    return {c: rate * factor for c, rate in rates.items()}


def _scaled(tokens: int, provider: str) -> int:
    return int(tokens * UNTRACKED) if provider == "openai" else tokens


def metered(http: httpx.Client, start: dt.date, end: dt.date) -> list[BilledCall]:
    """The service's day x provider x model totals of [start, end), as the providers metered
    them (OpenAI's with the untracked share added)."""
    report = http.get(
        "/api/v1/costs",
        params={
            "start": f"{start}T00:00:00Z", "end": f"{end}T00:00:00Z", "grain": "day",
            "group_by": ["provider", "model"], "limit": 10_000,
        },
    ).raise_for_status().json()  # fmt: skip
    calls = []
    for row in report["rows"]:
        provider, model = row["dimensions"]["provider"], row["dimensions"]["model"]
        if provider not in ("openai", "anthropic") or not row["calls"]:
            continue
        tokens = row["tokens"]
        calls.append(
            BilledCall(
                dt.datetime.fromisoformat(row["period"]), provider, model,
                _scaled(tokens["input"], provider), _scaled(tokens["output"], provider),
                _scaled(tokens["cache_read"], provider), _scaled(tokens["cache_write"], provider),
                requests=_scaled(row["calls"], provider),
            )
        )  # fmt: skip
    return calls


def write_bills(
    calls: list[BilledCall], folder: Path, prices: Prices = billed_prices
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for source, pages in (
        ("openai", openai_pages([c for c in calls if c.provider == "openai"], prices)),
        ("anthropic", anthropic_pages([c for c in calls if c.provider == "anthropic"], prices)),
    ):
        path = folder / f"{source}-sample-bill.json"
        usage, costs = pages
        path.write_bytes(dumps({"source": source, "usage": usage, "costs": costs}))
        written.append(path)
    return written


def import_demo_bills(http: httpx.Client, data_dir: Path, days: float) -> int:
    """Write and import the sample bills of the whole days the backfill covered; returns
    the lines imported."""
    today = dt.datetime.now(dt.UTC).date()
    start = today - dt.timedelta(days=max(1, int(days)))
    lines = 0
    for path in write_bills(metered(http, start, today), data_dir / "bills"):
        response = http.post(
            "/api/v1/reconciliation/bills", params={"name": path.name}, content=path.read_bytes()
        )
        lines += int(response.raise_for_status().json()["lines"])
    return lines
