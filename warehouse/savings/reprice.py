"""Recorded token counts priced under a target model: the reusable core of the what-ifs.

`reprice` prices every call of a staged table of recorded calls (the columns of
`warehouse.pricing.calls.TARGET_COLUMNS`: token counts by kind, start time, service tier)
under the price book (`warehouse.pricing.pricebook`), with the same arithmetic and the same
choice of price period as the pricing job (`COST_PARTS`, `PERIOD_HOLDS_CALL`): the price in
effect at the call's start, its tier (`price_tier`) and its input-token band. Nothing here
is new price logic; what changes is only which key prices a call and its token counts.

- `Target(provider, model)`: every call is priced as that model. Its token counts are
  multiplied by `tokenizer_ratio` first (`warehouse.savings.tokenizers`), rounded to whole
  tokens.
- `OWN_MODEL`: every call is priced under its own key. The caller changes its token counts
  (prompt caching moves input tokens to cache reads) or its tier (batch) in the staged table.

The result is a temp table (`into`): `trace_id`, `span_id`, `cost_usd` (DECIMAL(38, 24); NULL
when no period of the price book holds the call: unpriced, never $0) and `tier_assumption`
(why a tier's price is not the catalog's own, e.g. batch at 50% of standard).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import duckdb

from warehouse.pricing.calls import COST_PARTS, PERIOD_HOLDS_CALL
from warehouse.pricing.periods import RATE_COLUMNS, Period
from warehouse.pricing.pricebook import PriceBook

# The token columns a tokenizer ratio scales (all of them: parts scale with their whole).
TOKEN_COLUMNS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cache_write_1h_tokens",
    "input_audio_tokens",
    "input_image_tokens",
    "output_audio_tokens",
    "output_image_tokens",
)
PERIODS_TABLE = "savings_periods"
_PERIOD_COLUMNS = (
    "provider VARCHAR",
    "model VARCHAR",
    "effective_from TIMESTAMP",
    "effective_to TIMESTAMP",
    "time_of_day_from TIME",
    "time_of_day_to TIME",
    "min_input_tokens BIGINT",
    "max_input_tokens BIGINT",
    "service_tier VARCHAR",
    "tier_assumption VARCHAR",
    *(f"{name} DECIMAL(38, 18)" for name in RATE_COLUMNS),
)


@dataclass(frozen=True)
class Target:
    """The model every call is priced as, and the ratio of its token counts to theirs."""

    provider: str
    model: str
    tokenizer_ratio: Decimal = Decimal(1)


OWN_MODEL = None  # `reprice`'s target: each call's own (provider, model)


def _period_row(provider: str, model: str, period: Period) -> tuple[object, ...]:
    return (
        provider,
        model,
        period.effective_from,
        period.effective_to,
        period.time_of_day_from,
        period.time_of_day_to,
        period.min_input_tokens,
        period.max_input_tokens,
        period.service_tier,
        period.tier_assumption,
        *period.rates.values(),
    )


def stage_periods(
    cursor: duckdb.DuckDBPyConnection, book: PriceBook, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Resolve each (provider, model) under `book` into the temp table of periods; returns
    how many periods each key has (0: the price book cannot price it)."""
    cursor.execute(f"CREATE OR REPLACE TEMP TABLE {PERIODS_TABLE} ({', '.join(_PERIOD_COLUMNS)})")
    rows: list[tuple[object, ...]] = []
    counts = {}
    for provider, model in sorted(set(keys)):
        _, periods = book.resolve(provider, model)
        counts[(provider, model)] = len(periods)
        rows += [_period_row(provider, model, period) for period in periods]
    if rows:  # one statement: `executemany` costs a round trip per row
        row = f"({', '.join(['?'] * len(_PERIOD_COLUMNS))})"
        values = ", ".join([row] * len(rows))
        cursor.execute(f"INSERT INTO {PERIODS_TABLE} VALUES {values}", [v for r in rows for v in r])
    return counts


REPRICE = f"""
CREATE OR REPLACE TEMP TABLE {{into}} AS
SELECT trace_id, span_id, tier_assumption,
       (input_cost + cache_read_cost + cache_write_cost + output_cost + request_cost)
           ::DECIMAL(38, 24) AS cost_usd
FROM (
    SELECT c.trace_id, c.span_id, p.tier_assumption,
           {COST_PARTS}
    FROM (SELECT * REPLACE ({{scaled}}) FROM {{calls}}) c
    LEFT JOIN {PERIODS_TABLE} p
        ON p.provider = {{provider}} AND p.model = {{model}}
        {PERIOD_HOLDS_CALL}
)
"""


def reprice(
    cursor: duckdb.DuckDBPyConnection,
    book: PriceBook,
    calls: str,
    target: Target | None,
    into: str = "savings_repriced",
) -> dict[tuple[str, str], int]:
    """Price the staged calls of the temp table `calls` under `target` (`OWN_MODEL`: their
    own keys) into the temp table `into` (this module's docstring). `calls` and `into` are
    names the caller chose, never user input. Returns the periods each key priced has."""
    if target is None:
        keys = cursor.execute(f"SELECT DISTINCT provider, model FROM {calls}").fetchall()
        counts = stage_periods(cursor, book, keys)
        provider, model, ratio = "c.provider", "c.model", Decimal(1)
    else:
        counts = stage_periods(cursor, book, [(target.provider, target.model)])
        provider, model, ratio = "$provider", "$model", target.tokenizer_ratio
    scaled = ", ".join(
        f"round({column} * $ratio::DECIMAL(18, 6))::BIGINT AS {column}" for column in TOKEN_COLUMNS
    )
    sql = REPRICE.format(into=into, calls=calls, scaled=scaled, provider=provider, model=model)
    params: dict[str, object] = {"ratio": ratio}
    if target is not None:
        params |= {"provider": target.provider, "model": target.model}
    cursor.execute(sql, params)
    return counts
