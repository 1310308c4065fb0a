"""`spendscope jobs run`: catching the jobs up on a stopped service's database."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from collector.ingest.normalize import Normalizer
from collector.ingest.traces.decode import PROTOBUF, decode_traces
from sample_data.traffic import SampleTraffic, tracer_provider
from warehouse.spans.insert import insert_spans
from warehouse.store.database import Database


class Bodies(SpanExporter):
    """Keeps the OTLP bodies the SDK would have sent."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def export(self, spans: object) -> SpanExportResult:
        assert isinstance(spans, (list, tuple))
        readable: list[ReadableSpan] = list(spans)
        self.bodies.append(encode_spans(readable).SerializeToString())
        return SpanExportResult.SUCCESS


def spendscope(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}
    return subprocess.run(
        [sys.executable, "-m", "collector", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def ingest_sample(data_dir: Path) -> int:
    exporter = Bodies()
    provider = tracer_provider(exporter, "cli-test", "test")
    summary = SampleTraffic(provider.get_tracer("cli"), seed=3).run(12)
    provider.shutdown()
    database = Database.open(data_dir / "spendscope.duckdb")
    cursor = database.cursor()
    for batch_id, body in enumerate(exporter.bodies, start=1):
        decoded = decode_traces(body, PROTOBUF, Normalizer())
        cursor.begin()
        insert_spans(cursor, decoded.table, batch_id, dt.datetime.now(dt.UTC))
        cursor.commit()
    cursor.close()
    database.close()
    return summary.model_calls


def test_jobs_run_prices_and_rolls_up_everything_ingested(tmp_path: Path) -> None:
    calls = ingest_sample(tmp_path)
    result = spendscope("jobs", "run", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"attribution: {calls} rows" in result.stdout
    with duckdb.connect(str(tmp_path / "spendscope.duckdb"), read_only=True) as db:
        priced = db.sql("SELECT count(*) FROM call_costs WHERE priced").fetchone()
        rolled = db.sql("SELECT sum(calls) FROM rollup_hourly").fetchone()
    assert priced == (calls,)
    assert rolled == (calls,)
    again = spendscope("jobs", "run", "rollups", data_dir=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "rollups: 0 rows" in again.stdout


def test_jobs_run_refuses_a_database_in_use_and_unknown_jobs(tmp_path: Path) -> None:
    ingest_sample(tmp_path)
    assert spendscope("jobs", "run", "nope", data_dir=tmp_path).returncode == 2
    holder = duckdb.connect(str(tmp_path / "spendscope.duckdb"))
    try:
        result = spendscope("jobs", "run", data_dir=tmp_path)
    finally:
        holder.close()
    assert result.returncode == 2
    assert "in use by another process (is `spendscope serve` running on it?)" in result.stderr
