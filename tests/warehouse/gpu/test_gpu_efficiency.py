"""The GPU efficiency and allocation jobs on generated DCGM and vLLM series (idle night,
saturated hour, counter reset, gaps), checked against the hand-computed figures of
`tests.support.gpu_series`, through the real decoders and a real DuckDB built by the migrations."""

from __future__ import annotations

import datetime as dt
import tomllib
from decimal import Decimal

import duckdb
import pytest

from collector.ingest.metrics.decode import MetricRules, decode_metrics
from collector.ingest.normalize import Normalizer
from collector.ingest.traces.decode import PROTOBUF, decode_traces
from tests.support import gpu_series as series
from warehouse.gpu import allocation as gpu_allocation
from warehouse.gpu import config as gpu_config
from warehouse.gpu import efficiency as gpu_efficiency
from warehouse.gpu import prices as gpu_prices
from warehouse.gpu.metric_points import insert_metric_points, last_metric_batch
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.spans.insert import insert_spans, last_batch_id
from warehouse.store.database import Database

NOW = dt.datetime(2026, 1, 6, tzinfo=dt.UTC)


def _ingest_metrics(cursor: duckdb.DuckDBPyConnection, body: bytes) -> int:
    decoded = decode_metrics(body, PROTOBUF, MetricRules())
    cursor.begin()
    written = insert_metric_points(cursor, decoded.table, last_metric_batch(cursor) + 1, NOW)
    cursor.commit()
    return written


def _ingest_spans(cursor: duckdb.DuckDBPyConnection) -> None:
    decoded = decode_traces(series.call_export().SerializeToString(), PROTOBUF, Normalizer())
    cursor.begin()
    insert_spans(cursor, decoded.table, last_batch_id(cursor) + 1, NOW)
    cursor.commit()


def _run_jobs(cursor: duckdb.DuckDBPyConnection) -> None:
    for job in JOBS.values():
        run_job(cursor, job, NOW)


def _set_prices(cursor: duckdb.DuckDBPyConnection, text: str) -> None:
    entries = tomllib.loads(text)["gpu_prices"]
    prices = [gpu_prices.parse_gpu_price(entry, "test") for entry in entries]
    gpu_prices.sync_file_gpu_prices(cursor, prices, NOW)


@pytest.fixture
def cursor(database: Database) -> duckdb.DuckDBPyConnection:
    cursor = database.cursor()
    gpu_config.store_config(cursor, gpu_config.GpuConfig())
    _set_prices(cursor, series.PRICE_FILE)
    for export in series.dcgm_exports():
        _ingest_metrics(cursor, export.SerializeToString())
    _ingest_metrics(cursor, series.vllm_export().SerializeToString())
    _ingest_spans(cursor)
    _run_jobs(cursor)
    return cursor


def _hourly(cursor: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return cursor.execute(
        "SELECT hour, gpus, gpu_ms, cost_nanos, idle_cost_nanos, prompt_tokens, "
        "generation_tokens, requests_waiting FROM gpu_deployment_hourly "
        "WHERE deployment = 'llama' ORDER BY hour"
    ).fetchall()


def test_hourly_figures_match_the_hand_computed_ones(cursor: duckdb.DuckDBPyConnection) -> None:
    rows = _hourly(cursor)
    assert [row[0] for row in rows] == [
        (series.DAY + dt.timedelta(hours=h)).replace(tzinfo=None) for h in range(4)
    ]
    for hour, row in enumerate(rows):
        _, gpus, gpu_ms, cost, idle, prompt, generation, waiting = row
        assert gpus == 2
        assert gpu_ms == series.GPU_SECONDS[hour] * 1000, hour
        assert Decimal(cost).scaleb(-9) == series.COST[hour], hour
        assert Decimal(idle).scaleb(-9) == series.IDLE[hour], hour
        assert prompt == series.PROMPT[hour], hour
        assert generation == series.GENERATION[hour], hour
        assert waiting == (3.0 if hour == 2 else 0.0)
    # Engine activity wins over GPU_UTIL (which said 100 % throughout).
    sources = cursor.execute("SELECT DISTINCT utilization_source FROM gpu_hourly").fetchall()
    assert sources == [("gpu_engine_active",)]


def test_gpu_cost_is_spread_over_the_calls_exactly(cursor: duckdb.DuckDBPyConnection) -> None:
    rows = cursor.execute(
        "SELECT trace_id, deployment, matched_by, cost_nanos, idle_cost_nanos "
        "FROM gpu_call_costs ORDER BY trace_id"
    ).fetchall()
    got = {int.from_bytes(row[0], "big"): (row[3], row[4]) for row in rows}
    assert got == series.ALLOCATED
    matched = {int.from_bytes(row[0], "big"): row[2] for row in rows}
    assert matched[901] == "server_address"
    assert matched[904] == "model"
    assert matched[907] == "deployment"
    # Each hour's shares add up to the hour's cost: nothing lost to rounding.
    assert sum(cost for cost, _ in series.ALLOCATED.values()) == 22_000_000_000


def test_allocated_cost_replaces_token_prices_in_the_rollups(
    cursor: duckdb.DuckDBPyConnection,
) -> None:
    costs = dict(
        cursor.execute(
            "SELECT trace_id, (price_source, cost_usd) FROM call_costs ORDER BY trace_id"
        ).fetchall()
    )
    for trace, (nanos, _) in series.ALLOCATED.items():
        source, cost = costs[trace.to_bytes(16, "big")]
        assert source == "gpu" and cost == Decimal(nanos).scaleb(-9)
    api_source, api_cost = costs[series.API_CALL[0].to_bytes(16, "big")]
    assert api_source == "catalog" and api_cost > 0
    features = dict(
        cursor.execute(
            "SELECT feature, sum(cost_usd) FROM rollup_hourly GROUP BY feature"
        ).fetchall()
    )
    assert features["chat"] == Decimal("4.8") + Decimal(8)
    assert features["draft"] == Decimal(6)
    assert features["search"] == Decimal("3.2") + api_cost


def test_a_re_sent_export_stores_nothing_twice(cursor: duckdb.DuckDBPyConnection) -> None:
    before = _hourly(cursor)
    assert _ingest_metrics(cursor, series.vllm_export().SerializeToString()) == 0
    assert _ingest_metrics(cursor, series.dcgm_exports()[2].SerializeToString()) == 0
    _run_jobs(cursor)
    assert _hourly(cursor) == before


def test_a_new_price_re_costs_history_and_re_prices_the_calls(
    cursor: duckdb.DuckDBPyConnection,
) -> None:
    _set_prices(
        cursor,
        series.PRICE_FILE + '\n[[gpu_prices]]\ndeployment = "llama"\npricing = "reserved"\n'
        'usd_per_gpu_hour = "2"\neffective_from = 2026-01-05T02:00:00Z\n',
    )
    _run_jobs(cursor)
    _run_jobs(cursor)  # the re-pricing the allocation queued
    costs = [Decimal(row[3]).scaleb(-9) for row in _hourly(cursor)]
    assert costs == [Decimal(8), Decimal(8), Decimal(4), Decimal(3)]
    (cost,) = cursor.execute(
        "SELECT cost_usd FROM call_costs WHERE trace_id = ?", [(907).to_bytes(16, "big")]
    ).fetchone() or (None,)
    assert cost == Decimal(3)


def test_unknown_metrics_are_ignored_not_stored() -> None:
    decoded = decode_metrics(series.unknown_export().SerializeToString(), PROTOBUF, MetricRules())
    assert (decoded.accepted, decoded.ignored, decoded.rejected) == (0, 2, 0)


def test_owned_gpus_are_amortized() -> None:
    price = gpu_prices.parse_gpu_price(
        {
            "node_pool": "a100-owned",
            "pricing": "owned",
            "purchase_usd": "14600",
            "amortization_months": 20,
            "operating_usd_per_gpu_hour": "0.25",
        },
        "test",
    )
    # 14,600 / (20 x 730 h) = 1 per hour, plus 0.25 operating.
    assert price.usd_per_gpu_hour == Decimal("1.25")


def test_efficiency_and_allocation_jobs_are_registered() -> None:
    assert JOBS[gpu_efficiency.NAME].source is last_metric_batch
    assert JOBS[gpu_allocation.NAME].after == "attribution"


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ({"pricing": "on_demand", "usd_per_gpu_hour": "4"}, "exactly one of"),
        ({"gpu_model": "H100", "node_pool": "a", "usd_per_gpu_hour": "4"}, "exactly one of"),
        ({"gpu_model": "H100", "pricing": "spot", "usd_per_gpu_hour": "4"}, "pricing: must be"),
        ({"gpu_model": "H100", "pricing": "owned", "purchase_usd": "9"}, "amortization_months"),
        ({"gpu_model": "H100", "pricing": "owned", "usd_per_gpu_hour": "4"}, "purchase_usd"),
        ({"gpu_model": "H100", "usd_per_gpu_hour": "0.0000000001"}, "9 decimal places"),
        ({"gpu_model": "H100", "usd_per_gpu_hour": "-1"}, "non-negative"),
        ({"gpu_model": "H100", "usd_per_gpu_hour": "4", "colour": "red"}, "unknown field"),
    ],
)
def test_bad_gpu_prices_are_refused_with_the_field_named(
    entry: dict[str, object], error: str
) -> None:
    with pytest.raises(gpu_prices.PriceFileError, match=error):
        gpu_prices.parse_gpu_price(entry, "prices.toml: gpu price #1")


def test_delta_token_counters_give_the_same_hours_as_cumulative(database: Database) -> None:
    """The same vLLM token counts sent with delta temporality (what an SDK configured for
    delta sends) add up to the figures of the cumulative series, restart and gap included."""
    cursor = database.cursor()
    gpu_config.store_config(cursor, gpu_config.GpuConfig())
    _set_prices(cursor, series.PRICE_FILE)
    for export in series.dcgm_exports():
        _ingest_metrics(cursor, export.SerializeToString())
    _ingest_metrics(cursor, series.vllm_delta_export().SerializeToString())
    _run_jobs(cursor)
    rows = _hourly(cursor)
    assert [row[5] for row in rows] == list(series.PROMPT)
    assert [row[6] for row in rows] == list(series.GENERATION)


def test_histograms_keep_their_sum_and_count(database: Database) -> None:
    cursor = database.cursor()
    written = _ingest_metrics(cursor, series.token_usage_histogram_export().SerializeToString())
    assert written == 2
    rows = cursor.execute(
        "SELECT kind, cumulative, value, count FROM metric_points ORDER BY time"
    ).fetchall()
    assert rows == [("histogram", True, 1200.0, 3), ("histogram", True, 4500.0, 7)]


def test_hw_gpu_utilization_counts_the_general_task_only(database: Database) -> None:
    cursor = database.cursor()
    gpu_config.store_config(cursor, gpu_config.GpuConfig())
    written = _ingest_metrics(cursor, series.hw_gpu_export().SerializeToString())
    assert written == 360  # the encoder's points are not compute: not stored
    _run_jobs(cursor)
    rows = cursor.execute(
        "SELECT deployment, gpu_id, gpu_model, utilization_source, gpu_ms, busy_ms "
        "FROM gpu_hourly ORDER BY hour"
    ).fetchall()
    assert rows == [("hw", "gpu-hw-0", "NVIDIA L4", "gpu_utilization", 3_600_000, 2_700_000)]
