"""A reconciliation scenario with known differences, shared by the bench and the tests.

Traffic over `days` days of four models, priced by spendscope (the catalog, no override),
and a bill generated from the same traffic with three differences injected:

- `missing_share` of the calls (chosen at random, every model) never reach spendscope:
  traffic not instrumented;
- OpenAI bills gpt-4o-mini at `discount` off the list price, a negotiated rate spendscope
  has no override for;
- Anthropic bills `batch_share` of the claude-3-5-haiku calls at the batch tier (half the
  list price), a tier spendscope does not price.

The bill is OpenAI Usage and Costs pages, Anthropic usage and cost report pages and a FOCUS
file of Amazon Bedrock, as the real APIs and exports have them (`sample_data.bills`).
`expected` is the dollar size of each difference at spendscope's prices: what the
reconciliation must find.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal

from sample_data.bills import (
    MTOK,
    BilledCall,
    anthropic_pages,
    at_list_prices,
    dumps,
    focus_csv,
    focus_rows,
    list_prices,
    openai_pages,
)
from warehouse.reconciliation.compute import Row
from warehouse.reconciliation.load import ModelNames

MODELS = (
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4o"),
    ("anthropic", "claude-3-5-haiku-latest"),
    ("aws.bedrock", "anthropic.claude-3-haiku-20240307-v1:0"),
)
DISCOUNTED = ("openai", "gpt-4o-mini")
TIERED = ("anthropic", "claude-3-5-haiku-latest")


@dataclass
class Scenario:
    first_day: dt.date
    days: int
    calls: list[BilledCall] = field(default_factory=list)  # what the providers metered
    instrumented: list[BilledCall] = field(default_factory=list)  # what spendscope saw
    files: dict[str, bytes] = field(default_factory=dict)  # bill name -> content
    expected: dict[str, Decimal] = field(default_factory=dict)  # injected difference -> USD


def list_cost(call: BilledCall) -> Decimal:
    rates = list_prices(call.provider, call.model, call.start)
    return sum((n * rates[c] / MTOK for c, n in call.tokens().items()), Decimal(0))


def _call(rng: random.Random, day: dt.date, provider: str, model: str) -> BilledCall:
    start = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=rng.randrange(86_400))
    total = rng.randint(800, 6000)
    cache_read = int(total * rng.uniform(0.2, 0.4))
    cache_write = int(total * rng.uniform(0.03, 0.07)) if provider != "openai" else 0
    tier = ""
    if (provider, model) == TIERED and rng.random() < 0.3:
        tier = "batch"
    return BilledCall(
        start, provider, model, total, int(total * rng.uniform(0.1, 0.3)), cache_read,
        cache_write, tier=tier, project="proj_support" if rng.random() < 0.6 else "proj_search",
    )  # fmt: skip


def build(
    first_day: dt.date,
    days: int = 14,
    calls_per_day: int = 300,
    missing_share: float = 0.03,
    discount: Decimal = Decimal("0.15"),
    seed: int = 14,
) -> Scenario:
    rng = random.Random(seed)
    scenario = Scenario(first_day, days)
    for offset in range(days):
        day = first_day + dt.timedelta(days=offset)
        for provider, model in MODELS:
            scenario.calls.extend(_call(rng, day, provider, model) for _ in range(calls_per_day))
    missing = [rng.random() < missing_share for _ in scenario.calls]
    scenario.instrumented = [c for c, gone in zip(scenario.calls, missing, strict=True) if not gone]

    def billed_prices(call: BilledCall) -> dict[str, Decimal]:
        rates = at_list_prices(call)
        factor = Decimal(1)
        if (call.provider, call.model) == DISCOUNTED:
            factor = 1 - discount
        elif call.tier == "batch":
            factor = Decimal("0.5")
        return {c: rate * factor for c, rate in rates.items()}

    by_provider = {p: [c for c in scenario.calls if c.provider == p] for p, _ in MODELS}
    usage, costs = openai_pages(by_provider["openai"], billed_prices)
    scenario.files["openai.json"] = dumps({"source": "openai", "usage": usage, "costs": costs})
    usage, costs = anthropic_pages(by_provider["anthropic"], billed_prices)
    scenario.files["anthropic.json"] = dumps(
        {"source": "anthropic", "usage": usage, "costs": costs}
    )
    rows = focus_rows(by_provider["aws.bedrock"], billed_prices)
    scenario.files["bedrock-focus.csv"] = focus_csv(rows).encode()
    gone = [c for c, lost in zip(scenario.calls, missing, strict=True) if lost]
    scenario.expected = {
        "traffic_not_instrumented": sum((list_cost(c) for c in gone), Decimal(0)),
        "discount_missing": -sum(
            (
                list_cost(c) * discount
                for c in scenario.calls
                if (c.provider, c.model) == DISCOUNTED
            ),
            Decimal(0),
        ),
        "tier_missing": -sum(
            (list_cost(c) / 2 for c in scenario.calls if c.tier == "batch"), Decimal(0)
        ),
    }
    return scenario


def found(rows: list[Row]) -> dict[str, Decimal]:
    """What the reconciliation `rows` found of each injected difference."""
    names = ModelNames()
    discounted, tiered = names(*DISCOUNTED), names(*TIERED)

    def part(name: str, model: str | None = None) -> Decimal:
        return sum((r.parts[name] for r in rows if model is None or r.model == model), Decimal(0))

    return {
        "traffic_not_instrumented": part("traffic_not_instrumented"),
        "discount_missing": part("price_differs", discounted),
        "tier_missing": part("price_differs", tiered),
    }
