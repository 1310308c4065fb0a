"""The savings opportunities in the recorded calls, ranked by dollars per month.

Three kinds, each with its assumptions stated:

- `model_swap`: within a feature, the calls of one model routed to another model that
  already served the same feature (so spendscope holds quality evidence for both:
  `warehouse.savings.quality`), at the target's prices (`warehouse.savings.whatif`). A
  target is tried when the price book prices it and its standard input or output rate is
  below the source's (any priced target for a self-hosted source); only the best target
  per (feature, model) is listed.
- `prompt_caching`: repeated input read from the prompt cache (`warehouse.savings.caching`).
- `batch`: calls nobody waits for at batch prices (`warehouse.savings.batch`).

Each opportunity is per (feature, provider, model); only those that save at least a cent a
month (`MIN_MONTHLY_USD`) are listed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import duckdb

from warehouse.core.clock import naive_utc
from warehouse.core.errors import InvalidRequest
from warehouse.pricing.pricebook import PriceBook
from warehouse.savings import batch, caching, recorded
from warehouse.savings.quality import ModelEvidence, evidence, same_model
from warehouse.savings.recorded import CALLS_TABLE, Selection
from warehouse.savings.reprice import OWN_MODEL, reprice
from warehouse.savings.tally import GroupSaving, tally
from warehouse.savings.whatif import Rule, replay

Kind = Literal["model_swap", "prompt_caching", "batch"]
KINDS: tuple[Kind, ...] = ("model_swap", "prompt_caching", "batch")
GROUP = ["feature", "provider", "model"]
MIN_MONTHLY_USD = Decimal("0.01")  # below it, noise rather than an opportunity


@dataclass(frozen=True)
class Opportunity:
    kind: Kind
    feature: str | None
    provider: str
    model: str
    change: str  # what would change, in words
    group: GroupSaving  # the affected calls: counts, dollars, the monthly saving
    assumptions: tuple[str, ...]
    evidence: tuple[ModelEvidence, ...] = ()  # model_swap: the feature's models
    evidence_note: str | None = None
    to_provider: str | None = None  # model_swap: the target
    to_model: str | None = None


@dataclass(frozen=True)
class Savings:
    opportunities: list[Opportunity]
    calls: int  # recorded calls looked at
    days: int
    confidence: float


def _own_model(
    cursor: duckdb.DuckDBPyConnection,
    book: PriceBook,
    stage: str,
    table: str,
    history: tuple[dt.datetime, int],
    confidence: float,
) -> list[GroupSaving]:
    """Stage `table` with the SQL `stage`, price it under each call's own model, tally."""
    cursor.execute(stage)
    reprice(cursor, book, table, OWN_MODEL, into=f"{table}_repriced")
    found = tally(cursor, table, f"{table}_repriced", GROUP, *history, confidence)
    return [group for group in found if group.saving.usd >= MIN_MONTHLY_USD]


def _key(group: GroupSaving) -> tuple[str | None, str, str]:
    feature, provider, model = group.key
    return feature, str(provider), str(model)


def _by_rule(
    kind: Kind, change: str, assumptions: tuple[str, ...], groups: list[GroupSaving]
) -> list[Opportunity]:
    return [Opportunity(kind, *_key(group), change, group, assumptions) for group in groups]


def opportunities(
    cursor: duckdb.DuckDBPyConnection,
    book: PriceBook,
    selection: Selection,
    value_units: Mapping[str, str],
    confidence: float = 0.9,
    kinds: tuple[Kind, ...] = KINDS,
) -> Savings:
    """Every opportunity of `kinds` in the selected calls, most dollars per month first."""
    calls = recorded.stage_calls(cursor, selection)
    end, days = recorded.history(cursor, selection)
    found: list[Opportunity] = []
    if not calls:
        return Savings(found, calls, days, confidence)
    if "prompt_caching" in kinds:
        groups = _own_model(
            cursor, book, caching.STAGE, caching.CACHED_TABLE, (end, days), confidence
        )
        found += _by_rule("prompt_caching", "cache the repeated input", caching.ASSUMPTIONS, groups)
    if "batch" in kinds:
        groups = _own_model(cursor, book, batch.STAGE, batch.BATCH_TABLE, (end, days), confidence)
        found += _by_rule("batch", "send through the batch API", batch.ASSUMPTIONS, groups)
    if "model_swap" in kinds:
        models = evidence(cursor, value_units, selection.start)
        found += _swaps(cursor, book, (end, days), models, confidence)
    found.sort(key=lambda o: (-o.group.saving.usd, o.kind, o.feature or "", o.model))
    return Savings(found, calls, days, confidence)


def _swaps(
    cursor: duckdb.DuckDBPyConnection,
    book: PriceBook,
    history: tuple[dt.datetime, int],
    models: list[ModelEvidence],
    confidence: float,
) -> list[Opportunity]:
    """Per (feature, model) of the staged calls: the best swap to another model that
    served the feature and might be cheaper (`_worth_trying`)."""
    by_feature: dict[str | None, list[ModelEvidence]] = {}
    for row in models:
        by_feature.setdefault(row.feature, []).append(row)
    priced = {
        (str(p), str(m))
        for p, m in cursor.execute(
            f"SELECT DISTINCT provider, model FROM {CALLS_TABLE} WHERE priced"
        ).fetchall()
    }
    rates: dict[tuple[str, str], tuple[Decimal, Decimal] | None] = {}
    found = []
    for feature, served in by_feature.items():
        if feature is None:
            continue  # calls of no feature: no feature to route
        for source in served:
            options = [
                _swap(cursor, book, history, confidence, feature, served, source, target)
                for target in served
                if (source.provider, source.model) in priced
                and _worth_trying(book, rates, source, target, history[0])
            ]
            saving = [o for o in options if o is not None and o.group.saving.usd >= MIN_MONTHLY_USD]
            if saving:
                found.append(max(saving, key=lambda o: o.group.saving.usd))
    return found


def _standard_rates(
    book: PriceBook, key: tuple[str, str], at: dt.datetime
) -> tuple[Decimal, Decimal] | None:
    """The key's standard input and output rates at `at` for a small call (None: the
    price book has no token price for it)."""
    instant = naive_utc(at)
    for period in book.resolve(*key)[1]:
        if (
            period.service_tier is None
            and period.min_input_tokens == 0
            and period.time_of_day_from is None
            and period.covers(instant)
        ):
            return period.rates.input_mtok, period.rates.output_mtok
    return None


def _worth_trying(
    book: PriceBook,
    rates: dict[tuple[str, str], tuple[Decimal, Decimal] | None],
    source: ModelEvidence,
    target: ModelEvidence,
    at: dt.datetime,
) -> bool:
    """Whether to replay the swap: another model, with a token price, not dearer than the
    source both for input and for output (a self-hosted source has no token price: any
    priced target is worth trying)."""
    ours, theirs = (source.provider, source.model), (target.provider, target.model)
    if same_model(book.catalog, ours, theirs):
        return False
    for key in (ours, theirs):
        if key not in rates:
            rates[key] = _standard_rates(book, key, at)
    other = rates[theirs]
    if other is None:
        return False
    mine = rates[ours]
    return mine is None or other[0] < mine[0] or other[1] < mine[1]


def _swap(
    cursor: duckdb.DuckDBPyConnection,
    book: PriceBook,
    history: tuple[dt.datetime, int],
    confidence: float,
    feature: str,
    served: list[ModelEvidence],
    source: ModelEvidence,
    target: ModelEvidence,
) -> Opportunity | None:
    """The source model's calls of the feature routed to the target (None: the target has
    no token price, e.g. a self-hosted model)."""
    rule = Rule(target.model, target.provider, from_model=source.model)
    try:
        played = replay(cursor, book, rule, history, confidence, feature)
    except InvalidRequest:
        return None
    if not played.features:
        return None
    return Opportunity(
        "model_swap",
        feature,
        source.provider,
        source.model,
        f"route to {target.provider}/{target.model}",
        played.features[0],
        tuple(played.assumptions),
        tuple(served),
        evidence_note(source, target),
        target.provider,
        target.model,
    )


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def evidence_note(source: ModelEvidence | None, target: ModelEvidence | None) -> str:
    """The quality evidence in words: both models' rates, or plainly that there is none."""
    if target is None or not target.calls:
        return "no quality evidence: the target model never served this feature in the window"
    parts = []
    for row in (source, target) if source is not None else (target,):
        success = (
            f"value-unit success {_rate(row.success_rate)} of {row.sessions:,} sessions"
            if row.value_unit
            else "no value unit configured"
        )
        parts.append(
            f"{row.model}: {success}, errors {_rate(row.error_rate)} of {row.calls:,} calls"
        )
    return "; ".join(parts) + " (observed, not a controlled comparison)"
