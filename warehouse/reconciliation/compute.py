"""The reconciliation itself: billed against span-derived, per day x provider x model, with
the gap split into named causes. Pure: data in, rows out (`warehouse.reconciliation.load`
reads the data).

For one row, with token classes c (uncached input, cache read, cache write, output), the
spans' tokens S[c] and our cost of them, our rate r[c] (our cost of the priced calls'
tokens / those tokens), and the bill's tokens B[c] and dollars:

    gap = billed - ours
        = price                  billed token dollars - E, where E = sum B[c] x r[c]
                                 (the bill's own tokens at our prices)
        + volume                 E - sum S[c] x r[c]  (tokens the bill has and the spans
                                 do not, at our prices), split into
            traffic              a uniform share k of our cost: every class short (or
                                 over) by the same share -> traffic not instrumented (or
                                 spans the bill does not have)
            counted differently  the rest: classes that disagree (cached tokens counted as
                                 input, reasoning left out, ...)
        + unpriced               tokens spendscope holds but could not price, at r[c]
        + other charges          non-token dollars (web search, tools) billed minus ours

The parts add up to the gap exactly (the last one is the remainder). k is the relative
gap of the token classes when they agree within `uniform_tolerance`; when they do not, the
class gap nearest zero (0 if they differ in sign, or when the bill's request count matches
the spans' calls). A bill with dollars but no tokens cannot be split (`cost_only`); one
with tokens but no dollars has no price part and its gap is the volume at our prices.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from warehouse.reconciliation.config import ReconciliationConfig
from warehouse.reconciliation.records import TOKEN_CLASSES

ZERO = Decimal(0)
PARTS = (
    "traffic_not_instrumented",
    "traffic_not_on_bill",
    "tokens_counted_differently",
    "price_differs",
    "unpriced_calls",
    "other_charges",
    "cost_only",
)


@dataclass
class SpanSide:
    calls: int = 0
    unpriced_calls: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_CLASSES, 0))
    priced_tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_CLASSES, 0))
    cost: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(TOKEN_CLASSES, ZERO))
    other_cost: Decimal = ZERO  # per-request prices, GPU-priced calls
    models: set[str] = field(default_factory=set)

    @property
    def cost_usd(self) -> Decimal:
        return sum(self.cost.values(), ZERO) + self.other_cost


@dataclass
class BillSide:
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_CLASSES, 0))
    cost: dict[str, Decimal] = field(default_factory=dict)  # token class ('' unsplit) -> USD
    requests: int | None = None
    has_usage: bool = False
    has_cost: bool = False  # the source reported dollars for this provider and day
    models: set[str] = field(default_factory=set)
    # (project, API key, tier) -> {"tokens": int, "cost_usd": Decimal | None}
    breakdown: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)

    @property
    def cost_usd(self) -> Decimal:
        return sum(self.cost.values(), ZERO)

    @property
    def token_cost(self) -> Decimal:
        return self.cost_usd - self.cost.get("other", ZERO)


@dataclass(frozen=True)
class Row:
    day: dt.date
    provider: str
    model: str  # the catalog model both sides matched, else the name as billed / sent
    spans: SpanSide
    bill: BillSide
    billed_usd: Decimal | None  # None: the bill has no dollars for this provider and day
    gap_usd: Decimal  # billed - ours; without billed dollars, the volume at our prices
    gap_share: Decimal | None  # gap / billed (None without billed dollars or with $0 billed)
    parts: Mapping[str, Decimal]
    cause: str  # the largest part, or `matched`
    explanation: str
    tiers: tuple[str, ...]
    rate_ratio: Decimal | None  # billed token dollars / E
    class_rate_ratios: Mapping[str, Decimal]

    @property
    def span_usd(self) -> Decimal:
        return self.spans.cost_usd


def _rates(spans: SpanSide, bill: BillSide) -> dict[str, Decimal]:
    """Our rate per token class (USD per token), for the classes that have one: our cost of
    the priced calls' tokens, else (nothing of ours to compare) the bill's own rate."""
    rates: dict[str, Decimal] = {}
    for c in TOKEN_CLASSES:
        if spans.priced_tokens[c] > 0:
            rates[c] = spans.cost[c] / spans.priced_tokens[c]
        elif bill.tokens[c] > 0 and c in bill.cost:
            rates[c] = bill.cost[c] / bill.tokens[c]
    return rates


def _value(tokens: Mapping[str, int], rates: Mapping[str, Decimal]) -> Decimal:
    """Tokens per class at `rates` (classes without a rate count nothing)."""
    return sum((tokens[c] * rate for c, rate in rates.items()), ZERO)


def _uniform_share(spans: SpanSide, bill: BillSide, config: ReconciliationConfig) -> Decimal | None:
    """k, the share by which every class is short (+) or over (-) on the spans' side; None
    when the classes agree within the tolerance (the whole volume gap is traffic)."""
    gaps = [
        Decimal(bill.tokens[c] - spans.tokens[c]) / spans.tokens[c]
        for c in TOKEN_CLASSES
        if spans.tokens[c] > 0
    ]
    extra = any(bill.tokens[c] > 0 and spans.tokens[c] == 0 for c in TOKEN_CLASSES)
    if not gaps:
        return None
    if bill.requests is not None and spans.calls:
        calls_gap = abs(Decimal(bill.requests - spans.calls)) / spans.calls
        if calls_gap <= config.uniform_tolerance and max(abs(g) for g in gaps) > max(
            calls_gap * 2, config.uniform_tolerance
        ):
            return ZERO  # the same requests with other tokens: counted differently
    if not extra and max(gaps) - min(gaps) <= config.uniform_tolerance:
        return None
    if all(g >= 0 for g in gaps) or all(g <= 0 for g in gaps):
        return min(gaps, key=abs)
    return ZERO


def _volume_parts(
    spans: SpanSide, bill: BillSide, rates: Mapping[str, Decimal], k: Decimal | None
) -> tuple[Decimal, Decimal]:
    """(uniform traffic part, counted-differently part) of the volume at our prices."""
    ours = _value(spans.tokens, rates)
    volume = _value(bill.tokens, rates) - ours
    if k is None or ours == 0:
        return volume, ZERO
    return k * ours, volume - k * ours


def reconcile_row(
    key: tuple[dt.date, str, str], spans: SpanSide, bill: BillSide, config: ReconciliationConfig
) -> Row:
    day, provider, model = key
    rates = _rates(spans, bill)
    expected = _value(bill.tokens, rates)
    unpriced = _value(spans.tokens, rates) - _value(spans.priced_tokens, rates)
    parts = dict.fromkeys(PARTS, ZERO)
    billed = bill.cost_usd if bill.has_cost else None
    gap: Decimal
    if billed is not None and not bill.has_usage and spans.calls:
        gap = billed - spans.cost_usd
        parts["cost_only"] = gap
    else:
        uniform, differently = _volume_parts(
            spans, bill, rates, _uniform_share(spans, bill, config)
        )
        parts["traffic_not_instrumented" if uniform >= 0 else "traffic_not_on_bill"] = uniform
        parts["unpriced_calls"] = unpriced
        if billed is None:
            gap = uniform + differently + unpriced
        else:
            gap = billed - spans.cost_usd
            parts["price_differs"] = bill.token_cost - expected
            parts["other_charges"] = bill.cost.get("other", ZERO) - spans.other_cost
        named = sum(parts.values(), ZERO)
        parts["tokens_counted_differently"] = gap - named  # the remainder, so parts add up
    share = gap / billed if billed else None
    ratio = bill.token_cost / expected if billed is not None and expected else None
    class_ratios: dict[str, Decimal] = {
        c: bill.cost[c] / (bill.tokens[c] * rate)
        for c, rate in rates.items()
        if c in bill.cost and bill.tokens[c] and rate
    }
    tiers = tuple(sorted({tier for _, _, tier in bill.breakdown if tier}))
    cause = _cause(parts, gap, share, config)
    return Row(
        day, provider, model, spans, bill, billed, gap, share, parts, cause,
        explain(cause, spans, bill, parts, ratio, class_ratios, tiers), tiers, ratio,
        class_ratios,
    )  # fmt: skip


def _cause(
    parts: Mapping[str, Decimal], gap: Decimal, share: Decimal | None, config: ReconciliationConfig
) -> str:
    if abs(gap) < config.matched_usd or (share is not None and abs(share) < config.matched_share):
        return "matched"
    return max(parts, key=lambda name: abs(parts[name]))


def _usd(value: Decimal) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}" if abs(value) >= 1 else f"{sign}${abs(value):.4f}"


def explain(
    cause: str,
    spans: SpanSide,
    bill: BillSide,
    parts: Mapping[str, Decimal],
    ratio: Decimal | None,
    class_ratios: Mapping[str, Decimal],
    tiers: tuple[str, ...],
) -> str:
    """One sentence naming the likely cause, with its figures."""
    part = parts.get(cause, ZERO)
    ours, theirs = sum(spans.tokens.values()), sum(bill.tokens.values())
    if cause == "matched":
        return "bill and spans agree"
    if cause == "traffic_not_instrumented":
        share = (theirs - ours) / theirs if theirs else 1
        return (
            f"the bill has {share:.1%} more tokens than the spans in every class: traffic not "
            f"instrumented ({_usd(part)} at our prices)"
        )
    if cause == "traffic_not_on_bill":
        return (
            f"the spans have {ours - theirs:,} tokens the bill does not ({_usd(-part)}): calls "
            "billed to another account or source, or spans sent twice"
        )
    if cause == "tokens_counted_differently":
        worst = max(TOKEN_CLASSES, key=lambda c: abs(bill.tokens[c] - spans.tokens[c]))
        return (
            f"token classes disagree, most on {worst}: bill {bill.tokens[worst]:,}, spans "
            f"{spans.tokens[worst]:,} ({_usd(part)}): tokens counted differently"
        )
    if cause == "price_differs":
        where = ", ".join(f"{c} {r:.3f}x" for c, r in class_ratios.items())
        billed_at = f"billed {ratio:.3f}x our price for the same tokens" if ratio else "billed"
        hint = (
            "a negotiated discount missing: add a price override"
            if part < 0
            else "a tier or surcharge not priced (long context, priority, a regional rate)"
        )
        tier_note = f"; the bill shows tier {', '.join(tiers)}" if tiers else ""
        return f"{billed_at} ({_usd(part)}{'; ' + where if where else ''}): {hint}{tier_note}"
    if cause == "unpriced_calls":
        return f"{spans.unpriced_calls:,} calls unpriced in spendscope ({_usd(part)}): add a price"
    if cause == "other_charges":
        return f"charges for other than tokens (web search, tools): {_usd(part)}"
    return f"the bill has dollars but no tokens ({_usd(part)}): import its usage report to split it"


def reconcile(
    spans: Mapping[tuple[dt.date, str, str], SpanSide],
    bills: Mapping[tuple[dt.date, str, str], BillSide],
    covered: Iterable[tuple[str, dt.date, bool, bool]],
    config: ReconciliationConfig,
) -> list[Row]:
    """Every (day, provider, model) of a day the bill covers for that provider (`covered`:
    provider, day, and whether the bill reported tokens and dollars that day), by day then
    largest gap."""
    reports = {(provider, day): (usage, cost) for provider, day, usage, cost in covered}
    rows = []
    for key in sorted(set(spans) | set(bills)):
        day, provider, _ = key
        if (provider, day) not in reports:
            continue
        bill = bills.get(key) or BillSide()
        usage, cost = reports[(provider, day)]
        bill.has_usage, bill.has_cost = bill.has_usage or usage, bill.has_cost or cost
        rows.append(reconcile_row(key, spans.get(key) or SpanSide(), bill, config))
    rows.sort(key=lambda r: (r.day, -abs(r.gap_usd)))
    return rows
