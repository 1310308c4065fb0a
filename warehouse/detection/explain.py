"""Why a series' spend is off: the excess split into more calls, a model-mix shift, more
tokens per call, fewer cache hits and the rest (prices, the input/output balance).

The baseline composition is the series' calls per model in the same windows of the
previous weeks (the windows its seasonal baseline comes from), averaged and scaled to the
expected spend. Then, by sequential substitution (each step changes one factor, the order
fixed, so the parts add up to the excess exactly):

    calls        N_actual x baseline cost per call                      - expected
    model mix    N_actual x sum(actual share(m) x baseline cost per call(m)) - previous
    tokens/call  N_actual x sum(share(m) x actual tokens(m) x baseline cost per token(m))
    per token    the remainder, of which `cache` is what the drop in the cache-hit rate
                 cost (fewer cached input tokens, each at the full input price) and
                 `other` the rest (prices, more output per input token).

A model the baseline never used has no baseline cost per call: its whole cost counts as
model mix. Money here is float USD: an explanation, not an invoice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import duckdb

from warehouse.detection.series import DIMENSION_SQL

PARTS = ("calls", "model_mix", "tokens_per_call", "cache", "other")


def _usage(
    cursor: duckdb.DuckDBPyConnection,
    condition: str,
    params: dict[str, Any],
    windows: Sequence[tuple[dt.datetime, dt.datetime]],
) -> dict[str, dict[str, float]]:
    """Per model: calls, tokens, cache reads, cost and cache savings over the windows."""
    spans = " OR ".join(f"(hour >= $ws{i} AND hour < $we{i})" for i in range(len(windows)))
    bounds = {f"ws{i}": s for i, (s, _) in enumerate(windows)}
    bounds |= {f"we{i}": e for i, (_, e) in enumerate(windows)}
    rows = cursor.execute(
        f"""
        SELECT {DIMENSION_SQL["model"]} AS m, sum(calls)::DOUBLE, sum(input_tokens)::DOUBLE,
               sum(output_tokens)::DOUBLE, sum(cache_read_tokens)::DOUBLE,
               sum(cost_usd)::DOUBLE, sum(cache_savings_usd)::DOUBLE
        FROM rollup_hourly
        WHERE ({spans}) AND {condition}
        GROUP BY m
        """,
        params | bounds,
    ).fetchall()
    names = ("calls", "input", "output", "cache_read", "cost", "savings")
    return {row[0]: dict(zip(names, row[1:], strict=True)) for row in rows}


def explain(
    cursor: duckdb.DuckDBPyConnection,
    condition: str,
    params: dict[str, Any],
    window: tuple[dt.datetime, dt.datetime],
    references: Sequence[tuple[dt.datetime, dt.datetime]],
    expected: float,
) -> dict[str, Any]:
    """The excess of `window` over `expected`, split into PARTS (USD and share)."""
    actual = _usage(cursor, condition, params, [window])
    reference = {
        m: {k: v / max(len(references), 1) for k, v in u.items()}
        for m, u in _usage(cursor, condition, params, references).items()
    }
    return decompose(actual, reference, expected)


def decompose(
    actual: dict[str, dict[str, float]],
    reference: dict[str, dict[str, float]],
    expected: float,
) -> dict[str, Any]:
    spent = sum(u["cost"] for u in actual.values())
    excess = spent - expected
    calls_a = sum(u["calls"] for u in actual.values())
    calls_b = sum(u["calls"] for u in reference.values())
    cost_b = sum(u["cost"] for u in reference.values())
    parts = dict.fromkeys(PARTS, 0.0)
    if calls_a <= 0 or calls_b <= 0 or cost_b <= 0:
        parts["calls"] = excess  # nothing to compare with: all of it is new volume
    else:
        # The expected spend at the actual number of calls: the reference scaled to the
        # expected spend (x expected / cost_b) has calls_b x expected / cost_b calls, so
        # expected x calls_a / that. Written without dividing by `expected`, which is 0
        # for a series whose usual spend at this hour is nothing.
        step1 = calls_a * cost_b / calls_b
        step2 = step3 = 0.0
        cache = 0.0
        for model, a in actual.items():
            if a["calls"] <= 0:
                continue
            b = reference.get(model)
            share = a["calls"] / calls_a
            tokens_a = (a["input"] + a["output"]) / a["calls"]
            if not b or b["calls"] <= 0 or b["input"] + b["output"] <= 0:
                step2 += share * a["cost"] / a["calls"]
                step3 += share * a["cost"] / a["calls"]
                continue
            per_call_b = b["cost"] / b["calls"]
            per_token_b = b["cost"] / (b["input"] + b["output"])
            step2 += share * per_call_b
            step3 += share * tokens_a * per_token_b
            hits_a = a["cache_read"] / a["input"] if a["input"] else 0.0
            hits_b = b["cache_read"] / b["input"] if b["input"] else 0.0
            saving = (
                a["savings"] / a["cache_read"]
                if a["cache_read"]
                else (b["savings"] / b["cache_read"] if b["cache_read"] else 0.0)
            )
            cache += (hits_b - hits_a) * a["input"] * saving
        step2 *= calls_a
        step3 *= calls_a
        parts["calls"] = step1 - expected
        parts["model_mix"] = step2 - step1
        parts["tokens_per_call"] = step3 - step2
        parts["cache"] = cache
        parts["other"] = spent - step3 - cache
    shares = {k: (v / excess if excess else 0.0) for k, v in parts.items()}
    main = max(parts, key=lambda k: parts[k] if excess >= 0 else -parts[k])

    def change(model: str) -> float:
        return abs(
            actual.get(model, {}).get("cost", 0.0) - reference.get(model, {}).get("cost", 0.0)
        )

    models = [
        {
            "model": m,
            "cost_usd": round(actual.get(m, {}).get("cost", 0.0), 6),
            "usual_usd": round(reference.get(m, {}).get("cost", 0.0), 6),
            "calls": int(actual.get(m, {}).get("calls", 0)),
            "usual_calls": round(reference.get(m, {}).get("calls", 0.0), 2),
        }
        for m in sorted(set(actual) | set(reference), key=change, reverse=True)
    ]
    return {
        "excess_usd": round(excess, 6),
        "parts_usd": {k: round(v, 6) for k, v in parts.items()},
        "shares": {k: round(v, 4) for k, v in shares.items()},
        "main_cause": main,
        "models": models[:5],
    }
