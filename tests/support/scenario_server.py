"""A real `spendscope serve` holding a bill scenario's instrumented calls, sent over OTLP
and attributed: the server the reconciliation and FOCUS export end-to-end tests read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sample_data.harness.bill_scenario import Scenario
from sample_data.harness.server import ServerProcess
from sample_data.harness.span_warehouse import otlp_json


@contextmanager
def scenario_server(
    data_dir: Path, scenario: Scenario, env: dict[str, str]
) -> Iterator[ServerProcess]:
    with ServerProcess(data_dir, env) as server:
        response = server.client.post(
            f"{server.http_url}/v1/traces",
            content=otlp_json(scenario.instrumented),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        server.wait_attributed(timeout=60)
        yield server
