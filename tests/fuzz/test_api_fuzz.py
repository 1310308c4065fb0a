"""Schemathesis against the running server's OpenAPI document: every operation, every method.

The server holds a few days of the sample product (priced, rolled up, with anomalies and
value units), so the generated requests hit real rows. Every operation of `/openapi.json`
is exercised with an unscoped and with a tenant-scoped token: whatever the parameters
(absurd dates, huge limits, unknown dimensions, odd strings, wrong types), the answer is
never a 5xx, and it conforms to the document (status code, content type, headers, body
schema). Examples are bounded per operation so the whole run takes a minute or two.
"""

from __future__ import annotations

import itertools
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis import checks as sc
from schemathesis.core.result import Ok
from schemathesis.specs.openapi import checks as oc

from sample_data.harness.server import ServerProcess
from tests.support.sample_stack import populated_server

ADMIN = "fuzz-admin-token"
TENANT = "fuzz-acme-token"
# Examples per operation. Positive: requests the document allows; negative: requests it
# forbids (wrong types, missing or extra fields, out-of-range values), which must get a
# documented 4xx. An operation without parameters has no negative requests.
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}

# What "conforms" means here: no 5xx, and the status code, content type, headers and body
# are the ones the document declares. (Schemathesis's stateful and negative-data checks
# are left out: a 422 for a value the schema allows is covered by the conformance checks.)
CHECKS = [
    sc.not_a_server_error,
    oc.status_code_conformance,
    oc.content_type_conformance,
    oc.response_headers_conformance,
    oc.response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir: Path = tmp_path_factory.mktemp("api-fuzz")
    env = {"SPENDSCOPE_API_TOKENS": ADMIN, "SPENDSCOPE_TENANT_TOKENS": f"acme:{TENANT}"}
    server = populated_server(data_dir, env)
    try:
        yield server
        log = server.log_path.read_text(errors="replace")
        assert "Traceback" not in log, log[-5000:]
    finally:
        server.kill()


# Over 40 operations, the savings ones replaying the sample history per request: on a
# shared two-core machine the run has taken more than the suite's default 300 s.
@pytest.mark.timeout(600)
def test_every_operation_answers_without_a_5xx_and_as_documented(
    fuzzed_server: ServerProcess,
) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.http_url}/openapi.json")
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "the document has invalid operations"
    assert len(operations) >= 20, [op.label for op in operations]
    failures: dict[str, str] = {}
    examples = 0
    started = time.monotonic()
    for operation, mode in itertools.product(operations, EXAMPLES):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES[mode],
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case[Any]) -> None:
            nonlocal examples
            examples += 1
            for token in (ADMIN, TENANT):
                case.call_and_validate(
                    base_url=fuzzed_server.http_url,
                    headers={"authorization": f"Bearer {token}"},
                    checks=CHECKS,
                    timeout=60,  # generous: the suite may share a busy machine
                )

        try:
            fuzz()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE, operation.label  # nothing to negate
        except (Exception, BaseExceptionGroup) as exc:  # every operation, all failures
            details = "".join(traceback.format_exception(exc))
            failures[f"{operation.label} ({mode.value})"] = details[-4000:]
    elapsed = time.monotonic() - started
    print(f"schemathesis: {len(operations)} operations, {examples} examples x 2 tokens, "
          f"{elapsed:.1f} s")  # fmt: skip
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
