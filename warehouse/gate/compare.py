"""What changed per critical path between a base run and a head run.

Per path: cost per run with a bootstrap interval on the relative change, and the change split
into four parts that add up to it exactly (cost per run = calls x (input tokens x uncached
input $/token + output tokens x output $/token + fees - cache savings) per call):
- **calls**: more or fewer calls per run, at the base cost per call;
- **tokens**: more or fewer input or output tokens per call, at the base's prices per token;
- **price**: other prices per token or fees (a model swap, a price change, another tier);
- **cache**: more or less saved by cache reads per call.

The interval resamples whole repetitions when both runs have at least two (the run-to-run
noise of a suite whose outputs vary), and otherwise the calls of the one run (the call-to-call
noise). The resampling is seeded: the same two runs always get the same verdict.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from warehouse.gate.run import Call, Run

BOOTSTRAP_SAMPLES = 2000
SEED = 20261207


@dataclass(frozen=True)
class PathStats:
    """One run's figures for one path, per run (averaged over repetitions) and per call."""

    calls_per_run: float
    cost_per_run: float | None
    cost_per_call: float | None
    input_tokens_per_call: float
    output_tokens_per_call: float
    cache_read_tokens_per_call: float
    unpriced_calls: int
    model_mix: dict[str, float]


@dataclass(frozen=True)
class ModelChange:
    """Cost per run of one model within a path, base and head."""

    model: str
    base_cost_per_run: float
    head_cost_per_run: float

    @property
    def change(self) -> float:
        return self.head_cost_per_run - self.base_cost_per_run


@dataclass(frozen=True)
class PathChange:
    """How one path's cost moved. `change_pct` and its interval are None where the base cost
    is zero or either side has unpriced calls; `parts` then is empty."""

    path: str
    base: PathStats | None
    head: PathStats | None
    change_per_run: float | None = None
    change_pct: float | None = None
    interval_pct: tuple[float, float] | None = None
    parts: dict[str, float] = field(default_factory=dict)
    models: list[ModelChange] = field(default_factory=list)

    @property
    def unpriced_calls(self) -> int:
        return sum(stats.unpriced_calls for stats in (self.base, self.head) if stats)


def compare_runs(base: Run, head: Run, confidence: float = 0.95) -> list[PathChange]:
    """One PathChange per path present in either run, in path order."""
    base_paths, head_paths = _by_path(base.calls), _by_path(head.calls)
    changes = []
    for path in sorted(base_paths.keys() | head_paths.keys()):
        base_calls, head_calls = base_paths.get(path, []), head_paths.get(path, [])
        base_stats = _stats(base_calls, base.repetitions) if base_calls else None
        head_stats = _stats(head_calls, head.repetitions) if head_calls else None
        change = PathChange(path, base_stats, head_stats)
        if base_stats and head_stats and not change.unpriced_calls:
            change = _priced_change(change, (base, base_calls), (head, head_calls), confidence)
        changes.append(change)
    return changes


def _by_path(calls: list[Call]) -> dict[str, list[Call]]:
    paths: dict[str, list[Call]] = defaultdict(list)
    for call in calls:
        paths[call.path].append(call)
    return paths


def _stats(calls: list[Call], repetitions: int) -> PathStats:
    count = len(calls)
    priced = [call for call in calls if call.cost_usd is not None]
    unpriced = count - len(priced)
    cost = float(sum(call.cost_usd for call in priced if call.cost_usd is not None))
    mix: dict[str, float] = defaultdict(float)
    for call in calls:
        mix[call.model] += 1 / count
    return PathStats(
        calls_per_run=count / repetitions,
        cost_per_run=None if unpriced else cost / repetitions,
        cost_per_call=None if unpriced else cost / count,
        input_tokens_per_call=sum(call.input_tokens for call in calls) / count,
        output_tokens_per_call=sum(call.output_tokens for call in calls) / count,
        cache_read_tokens_per_call=sum(call.cache_read_tokens for call in calls) / count,
        unpriced_calls=unpriced,
        model_mix=dict(sorted(mix.items(), key=lambda item: -item[1])),
    )


def _priced_change(
    change: PathChange,
    base: tuple[Run, list[Call]],
    head: tuple[Run, list[Call]],
    confidence: float,
) -> PathChange:
    assert change.base and change.head
    base_cost = change.base.cost_per_run or 0.0
    head_cost = change.head.cost_per_run or 0.0
    pct = None if base_cost == 0 else (head_cost / base_cost - 1) * 100
    interval = None
    if base_cost > 0:
        interval = _interval(base, head, confidence)
    return PathChange(
        path=change.path,
        base=change.base,
        head=change.head,
        change_per_run=head_cost - base_cost,
        change_pct=pct,
        interval_pct=interval,
        parts=_parts(base, head),
        models=_model_changes(base, head),
    )


def _parts(base: tuple[Run, list[Call]], head: tuple[Run, list[Call]]) -> dict[str, float]:
    """calls + tokens + price + cache = head cost per run - base cost per run, exactly."""
    b, h = _drivers(*base), _drivers(*head)
    return {
        "calls": (h.calls - b.calls) * b.cost_per_call,
        "tokens": h.calls
        * ((h.input_tokens - b.input_tokens) * b.input_rate
           + (h.output_tokens - b.output_tokens) * b.output_rate),
        "price": h.calls
        * (h.input_tokens * (h.input_rate - b.input_rate)
           + h.output_tokens * (h.output_rate - b.output_rate)
           + h.fee - b.fee),
        "cache": -h.calls * (h.savings - b.savings),
    }  # fmt: skip


@dataclass(frozen=True)
class _Drivers:
    """Per run: calls; per call: tokens, uncached $ per token, fees, cache savings."""

    calls: float
    input_tokens: float
    output_tokens: float
    input_rate: float
    output_rate: float
    fee: float
    savings: float

    @property
    def cost_per_call(self) -> float:
        return (
            self.input_tokens * self.input_rate
            + self.output_tokens * self.output_rate
            + self.fee
            - self.savings
        )


def _drivers(run: Run, calls: list[Call]) -> _Drivers:
    count = len(calls)
    input_tokens = sum(call.input_tokens for call in calls)
    output_tokens = sum(call.output_tokens for call in calls)
    input_usd = float(sum(call.input_cost_usd for call in calls))
    output_usd = float(sum(call.output_cost_usd for call in calls))
    savings = float(sum(call.cache_savings_usd for call in calls))
    # Per-request fees and anything not split by token class: cost = in + out + fee - savings.
    fee = float(sum(call.cost_usd or 0 for call in calls)) + savings - input_usd - output_usd
    return _Drivers(
        calls=count / run.repetitions,
        input_tokens=input_tokens / count,
        output_tokens=output_tokens / count,
        input_rate=input_usd / input_tokens if input_tokens else 0.0,
        output_rate=output_usd / output_tokens if output_tokens else 0.0,
        fee=fee / count,
        savings=savings / count,
    )


def _model_changes(base: tuple[Run, list[Call]], head: tuple[Run, list[Call]]) -> list[ModelChange]:
    """Per model, cost per run on each side; the biggest movers first."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for side, (run, calls) in enumerate((base, head)):
        for call in calls:
            totals[call.model][side] += float(call.cost_usd or 0) / run.repetitions
    changes = [ModelChange(model, b, h) for model, (b, h) in totals.items()]
    return sorted(changes, key=lambda change: -abs(change.change))


def _interval(
    base: tuple[Run, list[Call]], head: tuple[Run, list[Call]], confidence: float
) -> tuple[float, float]:
    """The bootstrap percentile interval of the relative change of cost per run, in %."""
    rng = np.random.default_rng(SEED)
    by_repetition = base[0].repetitions >= 2 and head[0].repetitions >= 2
    sample = _repetition_means if by_repetition else _call_means
    base_means = sample(rng, *base)
    head_means = sample(rng, *head)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = head_means / base_means
    ratios = ratios[np.isfinite(ratios)]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail]) if ratios.size else (np.nan, np.nan)
    return float((low - 1) * 100), float((high - 1) * 100)


def _repetition_means(rng: np.random.Generator, run: Run, calls: list[Call]) -> np.ndarray:
    totals = np.zeros(run.repetitions)
    for call in calls:
        totals[call.repetition - 1] += float(call.cost_usd or 0)
    picks = rng.integers(0, run.repetitions, size=(BOOTSTRAP_SAMPLES, run.repetitions))
    means: np.ndarray = totals[picks].mean(axis=1)
    return means


def _call_means(rng: np.random.Generator, run: Run, calls: list[Call]) -> np.ndarray:
    costs = np.array([float(call.cost_usd or 0) for call in calls])
    picks = rng.integers(0, costs.size, size=(BOOTSTRAP_SAMPLES, costs.size))
    means: np.ndarray = costs[picks].sum(axis=1) / run.repetitions
    return means
