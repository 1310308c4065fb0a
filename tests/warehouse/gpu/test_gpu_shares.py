"""Splitting a deployment-hour's GPU cost over its calls: exact to the nano-dollar, whatever
the weights (a property test of `warehouse.gpu.allocation.SHARES` on DuckDB)."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from warehouse.gpu.allocation import SHARES

HOUR = dt.datetime(2026, 1, 5, 1)


def _shares(cost: int, idle: int, tokens: list[int]) -> list[tuple[int, int, int]]:
    with duckdb.connect() as db:
        db.execute(
            "CREATE TEMP TABLE gpu_deployment_hourly AS "
            "SELECT $hour AS hour, 'llama' AS deployment, $cost::BIGINT AS cost_nanos, "
            "$idle::BIGINT AS idle_cost_nanos",
            {"hour": HOUR, "cost": cost, "idle": idle},
        )
        db.execute(
            "CREATE TEMP TABLE alloc_matches (trace_id BLOB, span_id BLOB, start_time TIMESTAMP,"
            " hour TIMESTAMP, tokens BIGINT, deployment VARCHAR, matched_by VARCHAR)"
        )
        db.executemany(
            "INSERT INTO alloc_matches VALUES (?, ?, ?, ?, ?, 'llama', 'model')",
            [
                [n.to_bytes(16, "big"), b"\x01" * 8, HOUR, HOUR, count]
                for n, count in enumerate(tokens)
            ],
        )
        db.execute(SHARES)
        rows = db.execute(
            "SELECT trace_id, weight, cost_nanos, idle_cost_nanos FROM alloc_new ORDER BY trace_id"
        ).fetchall()
    return [(weight, cost_share, idle_share) for _, weight, cost_share, idle_share in rows]


@settings(max_examples=60, deadline=None)
@given(
    cost=st.integers(0, 10**13),
    idle_share=st.fractions(0, 1),
    tokens=st.lists(st.integers(0, 10**7), min_size=1, max_size=40),
)
def test_shares_add_up_exactly_and_follow_the_weights(
    cost: int, idle_share: Fraction, tokens: list[int]
) -> None:
    idle = int(cost * idle_share)
    rows = _shares(cost, idle, tokens)
    assert sum(row[1] for row in rows) == cost
    assert sum(row[2] for row in rows) == idle
    total = sum(row[0] for row in rows)
    for weight, cost_share, idle_share_nanos in rows:
        # Each share is its exact proportion rounded down or up by one nano-dollar.
        assert abs(cost_share - Fraction(cost * weight, total)) < 1
        assert abs(idle_share_nanos - Fraction(idle * weight, total)) < 1


def test_calls_without_tokens_share_equally() -> None:
    rows = _shares(10, 0, [0, 0, 0])
    assert [row[0] for row in rows] == [1, 1, 1]
    assert sorted(row[1] for row in rows) == [3, 3, 4]


def test_allocation_by_user_is_per_tenant_too() -> None:
    """Two tenants' users with one id are two rows (DESIGN.md decision 12)."""
    from warehouse.queries.gpu import allocation_dimensions

    assert allocation_dimensions(("user",)) == ["deployment", "user", "tenant"]
    assert allocation_dimensions(("tenant", "user")) == ["deployment", "tenant", "user"]
    assert allocation_dimensions(("feature",)) == ["deployment", "feature"]
