"""Repricing recorded calls (`warehouse.savings.reprice`) on a real warehouse holding the
sample product's traffic, stored and priced by the real jobs: under their own model the
calls cost exactly what the pricing job charged; under a target, what genai-prices says."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import duckdb
import pytest
from genai_prices import Usage, calc_price

from sample_data.product import SEARCH, SUMMARIZER, SUPPORT, WRITING
from sample_data.traffic import Session
from tests.support.genai_spans import nanos
from tests.warehouse.savings.traffic import store_sessions
from warehouse.pricing.job import current_book
from warehouse.savings.recorded import CALLS_TABLE, Selection, stage_calls
from warehouse.savings.reprice import OWN_MODEL, Target, reprice
from warehouse.store.database import Database
from warehouse.store.scope import ALL_TENANTS

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
FEATURES = (SUPPORT, SEARCH, WRITING, SUMMARIZER)


@pytest.fixture(scope="module")
def cursor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    database = Database.open(tmp_path_factory.mktemp("reprice") / "spendscope.duckdb")
    cursor = database.cursor()
    sessions = [
        Session(
            FEATURES[n % 4],
            f"s-{n}",
            nanos(NOW - dt.timedelta(hours=n * 3 + 1)),
            spike=n % 8 == 1,
        )
        for n in range(48)
    ]
    store_sessions(cursor, sessions)
    stage_calls(cursor, Selection(NOW - dt.timedelta(days=30), NOW, ALL_TENANTS))
    yield cursor
    cursor.close()
    database.close()


def test_under_their_own_model_calls_cost_what_the_pricing_job_charged(
    cursor: duckdb.DuckDBPyConnection,
) -> None:
    reprice(cursor, current_book(cursor), CALLS_TABLE, OWN_MODEL, into="again")
    rows = cursor.execute(
        f"SELECT c.model, c.recorded_cost_usd, r.cost_usd FROM {CALLS_TABLE} c "
        "JOIN again r USING (trace_id, span_id)"
    ).fetchall()
    assert len(rows) > 100
    assert {model for model, _, _ in rows} >= {"gpt-4o-2024-08-06", "claude-3-5-haiku-latest"}
    assert all(recorded == again for _, recorded, again in rows)


def test_under_a_target_each_call_costs_genai_prices_price_of_its_tokens(
    cursor: duckdb.DuckDBPyConnection,
) -> None:
    target = Target("anthropic", "claude-3-5-haiku-latest")
    reprice(cursor, current_book(cursor), CALLS_TABLE, target, into="as_haiku")
    rows = cursor.execute(
        f"SELECT c.input_tokens, c.cache_read_tokens, c.output_tokens, r.cost_usd "
        f"FROM {CALLS_TABLE} c JOIN as_haiku r USING (trace_id, span_id) "
        "WHERE c.provider = 'openai' AND NOT c.no_usage"
    ).fetchall()
    assert rows
    for input_tokens, cache_read, output_tokens, cost in rows:
        usage = Usage(
            input_tokens=input_tokens, cache_read_tokens=cache_read, output_tokens=output_tokens
        )
        expected = calc_price(usage, model_ref="claude-3-5-haiku-latest", provider_id="anthropic")
        assert cost == expected.total_price


def test_a_tokenizer_ratio_scales_every_token_count(cursor: duckdb.DuckDBPyConnection) -> None:
    book = current_book(cursor)
    reprice(cursor, book, CALLS_TABLE, Target("openai", "gpt-4o-mini"), into="one")
    reprice(cursor, book, CALLS_TABLE, Target("openai", "gpt-4o-mini", Decimal(2)), into="two")
    pairs = cursor.execute(
        f"SELECT one.cost_usd, two.cost_usd, c.input_tokens FROM {CALLS_TABLE} c "
        "JOIN one USING (trace_id, span_id) JOIN two USING (trace_id, span_id) "
        "WHERE NOT c.no_usage"
    ).fetchall()
    assert pairs and all(twice == once * 2 for once, twice, _ in pairs)


def test_a_target_the_price_book_does_not_know_is_unpriced_never_zero(
    cursor: duckdb.DuckDBPyConnection,
) -> None:
    periods = reprice(
        cursor, current_book(cursor), CALLS_TABLE, Target("openai", "no-such-model"), into="none"
    )
    assert periods == {("openai", "no-such-model"): 0}
    assert cursor.execute("SELECT count(*) FROM none WHERE cost_usd IS NOT NULL").fetchone() == (0,)


def test_the_batch_tier_is_the_catalogs_batch_price(cursor: duckdb.DuckDBPyConnection) -> None:
    cursor.execute(
        f"CREATE OR REPLACE TEMP TABLE batched AS SELECT * REPLACE ('batch' AS price_tier) "
        f"FROM {CALLS_TABLE} WHERE model = 'gpt-4o-mini' AND NOT no_usage"
    )
    reprice(cursor, current_book(cursor), "batched", OWN_MODEL, into="batched_cost")
    rows = cursor.execute(
        "SELECT c.recorded_cost_usd, r.cost_usd, r.tier_assumption FROM batched c "
        "JOIN batched_cost r USING (trace_id, span_id)"
    ).fetchall()
    assert rows and all(half * 2 == cost for cost, half, _ in rows)
