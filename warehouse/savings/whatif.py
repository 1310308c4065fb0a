"""A routing rule replayed on recorded calls: the calls of a feature (or tenant) that match
the rule are priced as the target model, the others keep their recorded cost.

The rule: calls of `from_model` (default: any model but the target), with recorded input
under `max_input_tokens` (default: any), and, with `no_tools`, only calls whose trace ran no
tool (`warehouse.savings.recorded`); embedding calls never move. Each moved call keeps its
token counts (scaled by the tokenizer ratio where one is published:
`warehouse.savings.tokenizers`), its start time (the target's price in effect then) and its
service tier. The target's provider defaults to the provider of the selected calls when
they have one. Savings per feature per month with a bootstrap interval over days
(`warehouse.savings.interval`), and the quality evidence (`warehouse.savings.quality`) of
every model that served each feature.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import duckdb

from warehouse.core.errors import InvalidRequest, NotFound
from warehouse.pricing.pricebook import PriceBook
from warehouse.savings import recorded
from warehouse.savings.interval import Monthly
from warehouse.savings.quality import ModelEvidence, evidence, same_model
from warehouse.savings.recorded import CALLS_TABLE, MOVABLE, Selection
from warehouse.savings.reprice import Target, reprice
from warehouse.savings.tally import GroupSaving, combined, tally
from warehouse.savings.tokenizers import TokenizerRatio, tokenizer_ratio

MOVED_TABLE = "savings_moved"
REPRICED_TABLE = "savings_moved_repriced"
# The staged calls of one feature (all of them: $feature NULL).
OF_FEATURE = "($feature IS NULL OR feature = $feature)"
MOVE = f"""
CREATE OR REPLACE TEMP TABLE {MOVED_TABLE} AS
SELECT * FROM {CALLS_TABLE}
WHERE NOT no_usage AND {MOVABLE} AND {OF_FEATURE}
  AND EXISTS (
      SELECT 1 FROM (SELECT unnest($providers) AS p, unnest($models) AS m) k
      WHERE k.p = provider AND k.m = model
  )
  AND ($max_input IS NULL OR input_tokens < $max_input)
  AND NOT ($no_tools AND uses_tools)
"""


@dataclass(frozen=True)
class Rule:
    """Route matching calls to `to_model` (of `to_provider`, default: the calls')."""

    to_model: str
    to_provider: str | None = None
    from_model: str | None = None
    max_input_tokens: int | None = None
    no_tools: bool = False

    def describe(self, provider: str) -> str:
        which = [f"calls of {self.from_model}" if self.from_model else "calls"]
        if self.max_input_tokens is not None:
            which.append(f"with input under {self.max_input_tokens:,} tokens")
        if self.no_tools:
            which.append("without tool use")
        return f"{' '.join(which)} -> {provider}/{self.to_model}; everything else stays"


@dataclass(frozen=True)
class Replay:
    """A rule replayed on the staged calls: the target, savings per feature and in all."""

    target: Target
    features: list[GroupSaving]  # key: (feature,), most saved first
    total: Monthly
    tokenizers: dict[str, TokenizerRatio]  # source model -> ratio to the target
    assumptions: list[str]

    @property
    def moved_calls(self) -> int:
        return sum(group.calls for group in self.features)


@dataclass(frozen=True)
class WhatIf:
    rule: Rule
    replay: Replay
    calls: int  # selected
    evidence: list[ModelEvidence]
    days: int


def _target_provider(cursor: duckdb.DuckDBPyConnection, rule: Rule, feature: str | None) -> str:
    if rule.to_provider:
        return rule.to_provider
    found = cursor.execute(
        f"SELECT DISTINCT provider FROM {CALLS_TABLE} WHERE {MOVABLE} AND {OF_FEATURE}",
        {"feature": feature},
    )
    providers = [provider for (provider,) in found.fetchall()]
    if len(providers) != 1:
        names = ", ".join(sorted(repr(p) for p in providers))
        raise InvalidRequest(f"the selected calls are of providers {names}: give to_provider")
    return str(providers[0])


def _sources(
    cursor: duckdb.DuckDBPyConnection,
    book: PriceBook,
    rule: Rule,
    target: tuple[str, str],
    feature: str | None,
) -> list[tuple[str, str]]:
    """The staged calls' keys the rule moves: not the target's model, `from_model`'s."""
    keys = [
        (str(p), str(m))
        for p, m in cursor.execute(
            f"SELECT DISTINCT provider, model FROM {CALLS_TABLE} "
            f"WHERE {MOVABLE} AND {OF_FEATURE} ORDER BY 1, 2",
            {"feature": feature},
        ).fetchall()
    ]
    moved = [key for key in keys if not same_model(book.catalog, key, target)]
    if rule.from_model is not None:
        moved = [key for key in moved if same_model(book.catalog, key, (key[0], rule.from_model))]
    return moved


def replay(
    cursor: duckdb.DuckDBPyConnection,
    book: PriceBook,
    rule: Rule,
    history: tuple[dt.datetime, int],
    confidence: float,
    feature: str | None = None,
) -> Replay:
    """The rule on the staged calls (`recorded.stage_calls`), of `feature` only when given,
    over `history` (its end and days); InvalidRequest when the price book cannot price the
    target."""
    provider = _target_provider(cursor, rule, feature)
    key = (provider, rule.to_model)
    if not book.resolve(*key)[1]:
        raise InvalidRequest(
            f"no price for {provider}/{rule.to_model}: neither the catalog nor an override "
            "prices it (GET /api/v1/prices/catalog lists the catalog's models)"
        )
    sources = _sources(cursor, book, rule, key, feature)
    ratios = {f"{p}/{m}": tokenizer_ratio((p, m), key) for p, m in sources}
    ratio = {r.ratio for r in ratios.values()}
    if len(ratio) > 1:  # tokenizers.py publishes only 1.0 (same tokenizer) today
        raise InvalidRequest("the moved models have different tokenizer ratios: give from_model")
    target = Target(provider, rule.to_model, ratio.pop() if ratio else Decimal(1))
    cursor.execute(
        MOVE,
        {
            "providers": [p for p, _ in sources] or [""],
            "models": [m for _, m in sources] or [""],
            "max_input": rule.max_input_tokens,
            "no_tools": rule.no_tools,
            "feature": feature,
        },
    )
    reprice(cursor, book, MOVED_TABLE, target, into=REPRICED_TABLE)
    end, days = history
    features = tally(cursor, MOVED_TABLE, REPRICED_TABLE, ["feature"], end, days, confidence)
    features.sort(key=lambda group: -group.saving.usd)
    assumptions = [
        rule.describe(provider),
        *(f"{source}: tokens x {r.ratio} ({r.basis})" for source, r in ratios.items()),
        *_tier_assumptions(cursor),
        "moved calls keep their start time (the target's price then) and their service tier",
    ]
    total = combined(features, days, confidence)
    return Replay(target, features, total, ratios, assumptions)


def what_if(
    cursor: duckdb.DuckDBPyConnection,
    book: PriceBook,
    selection: Selection,
    rule: Rule,
    value_units: Mapping[str, str],
    confidence: float = 0.9,
) -> WhatIf:
    """Replay the rule on the selected calls (NotFound when there are none; InvalidRequest
    when the price book cannot price the target)."""
    selected = recorded.stage_calls(cursor, selection)
    if not selected:
        raise NotFound("no recorded model calls match the selection in the window")
    whole = Selection(selection.start, selection.end, selection.scope, now=selection.now)
    history = recorded.history(cursor, whole)
    played = replay(cursor, book, rule, history, confidence)
    quality = evidence(cursor, value_units, selection.start)
    return WhatIf(rule, played, selected, quality, history[1])


def _tier_assumptions(cursor: duckdb.DuckDBPyConnection) -> list[str]:
    found = cursor.execute(
        f"SELECT DISTINCT tier_assumption FROM {REPRICED_TABLE} "
        "WHERE tier_assumption IS NOT NULL ORDER BY 1"
    ).fetchall()
    return [f"price assumption of the target: {code} (docs/pricing.md)" for (code,) in found]
