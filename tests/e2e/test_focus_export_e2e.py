"""`spendscope export focus` end to end: traffic over OTLP into a real `spendscope serve`,
then the FOCUS file written by the real CLI a slice of days at a time, against the API's
own export of the whole window; CSV and Parquet (read back with pyarrow); clear errors."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from collector.cli.main import cli
from sample_data.harness.bill_scenario import Scenario, build
from sample_data.harness.server import ServerProcess, free_port
from tests.collector.api.test_export_api import check_focus
from tests.support.scenario_server import scenario_server

ADMIN = "admin-token"


@pytest.fixture(scope="module")
def first_day() -> dt.date:
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=4)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, first_day: dt.date) -> Iterator[ServerProcess]:
    scenario: Scenario = build(first_day, days=3, calls_per_day=40, seed=11)
    env = {"SPENDSCOPE_API_TOKENS": ADMIN}
    with scenario_server(tmp_path_factory.mktemp("focus"), scenario, env) as server:
        yield server


def export(server: ServerProcess, *args: str) -> Any:
    common = ["--url", server.http_url, "--token", ADMIN]
    return CliRunner().invoke(cli, ["export", "focus", *args, *common])


def test_the_cli_writes_the_apis_rows_a_slice_at_a_time(
    served: ServerProcess, first_day: dt.date, tmp_path: Path
) -> None:
    start, end = first_day.isoformat(), (first_day + dt.timedelta(days=4)).isoformat()
    out = tmp_path / "focus.csv"
    result = export(served, "--start", start, "--end", end, "--slice-days", "1", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "FOCUS 1.2 row(s)" in result.output
    text = out.read_text()
    assert text.count("BilledCost,") == 1  # one header, for four slices
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    assert reader.fieldnames and rows
    check_focus(list(reader.fieldnames), rows)
    whole = served.client.get(
        f"{served.http_url}/api/v1/export/focus",
        params={"start": f"{start}T00:00:00Z", "end": f"{end}T00:00:00Z"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert whole.status_code == 200, whole.text
    assert sorted(rows, key=str) == sorted(csv.DictReader(io.StringIO(whole.text)), key=str)
    days = {row["ChargePeriodStart"][:10] for row in rows}
    assert len(days) == 3  # the scenario's three days

    parquet = tmp_path / "focus.parquet"
    result = export(served, "--start", start, "--end", end, "--format", "parquet",
                    "--slice-days", "2", "-o", str(parquet))  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pq.read_table(parquet)
    assert table.num_rows == len(rows)
    assert sorted(table.column("SkuPriceId").to_pylist()) == sorted(r["SkuPriceId"] for r in rows)


def test_clear_errors(served: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    backwards = export(served, "--start", "2026-01-05", "--end", "2026-01-01", "-o", str(out))
    assert backwards.exit_code == 1 and "--end must be after --start" in backwards.output
    unknown = export(served, "--by", "user", "-o", str(out))
    assert unknown.exit_code == 1 and "422" in unknown.output
    nobody = CliRunner().invoke(
        cli, ["export", "focus", "-o", str(out), "--url", f"http://127.0.0.1:{free_port()}"]
    )
    assert nobody.exit_code == 1 and "cannot reach the service" in nobody.output
    assert not out.exists()
