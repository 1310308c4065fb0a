"""Real instrumentations end to end: the `openai` client, instrumented by OpenLLMetry
(`opentelemetry-instrumentation-openai`) or OpenInference (`openinference-instrumentation-
openai`), calls an OpenAI-compatible stub on loopback; the spans go to a running
`spendscope serve` through the SDK exporters and are read back through the API.

The instrumented application runs in a process of its own (`tests/support/instrumented_app.py`,
which says why): instrumentors patch `openai` globally and OpenLLMetry's patches cannot be
removed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from sample_data.harness.server import ServerProcess
from tests.support.instrumented_app import ROOT_DIMENSIONS
from tests.support.openai_stub import EMBEDDING, ChatUsage, EmbeddingUsage, OpenAIStub
from tests.support.paths import REPO

pytestmark = pytest.mark.timeout(90)

CHAT = ChatUsage()
EMBED = EmbeddingUsage()
# What every model call of the trace carries once attributed: dimensions from the root span,
# service and environment from the resource.
ATTRIBUTED = {
    "service": "helpdesk",
    "environment": "production",
    "feature": ROOT_DIMENSIONS["spendscope.feature"],
    "session_id": ROOT_DIMENSIONS["session.id"],
    "user_id": ROOT_DIMENSIONS["user.id"],
    "tenant_id": ROOT_DIMENSIONS["spendscope.tenant"],
    "attributed": True,
}
FIELDS = (
    "name",
    "scope_name",
    "provider",
    "operation",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    *ATTRIBUTED,
)


@pytest.fixture
def server(shared_server: ServerProcess) -> ServerProcess:
    return shared_server


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(chat=CHAT, embedding=EMBED) as running:
        yield running


def run_app(
    request: pytest.FixtureRequest,
    instrumentation: str,
    stub: OpenAIStub,
    server: ServerProcess,
    exporter: str,
) -> dict[str, dict[str, Any]]:
    """Run the instrumented application; the model calls of its trace by span name."""
    command = [
        sys.executable,
        "-m",
        "tests.support.instrumented_app",
        instrumentation,
        stub.base_url,
        exporter,
        server.http_url,
        server.grpc_endpoint,
        request.node.nodeid,
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])

    # The stub answered like the real API, the client understood it, the export succeeded.
    assert [path for path, _ in stub.requests] == ["/v1/chat/completions", "/v1/embeddings"]
    assert stub.requests[0][1]["model"] == "gpt-4o"
    assert facts["chat_model"] == CHAT.model
    assert facts["cached_tokens"] == CHAT.cached_tokens
    assert facts["embedding"] == pytest.approx(EMBEDDING)
    assert facts["export"] == "SUCCESS", done.stderr[-3000:]

    server.wait_attributed()
    response = server.get("/api/v1/spans", trace_id=facts["trace_id"])
    assert response.status_code == 200, response.text
    records = response.json()["spans"]
    assert all(r["parent_span_id"] == facts["root_span_id"] for r in records)
    return {r["name"]: {field: r[field] for field in FIELDS} for r in records}


def test_openllmetry_openai_calls(
    request: pytest.FixtureRequest, server: ServerProcess, stub: OpenAIStub
) -> None:
    calls = run_app(request, "openllmetry", stub, server, "http-protobuf")

    assert calls == {
        "openai.chat": {
            "name": "openai.chat",
            "scope_name": "opentelemetry.instrumentation.openai.v1",
            "provider": "openai",
            "operation": "chat",
            "request_model": "gpt-4o",
            "response_model": CHAT.model,
            # OpenAI counts inclusively, as spendscope stores: nothing is added back.
            "input_tokens": CHAT.prompt_tokens,
            "output_tokens": CHAT.completion_tokens,
            "cache_read_tokens": CHAT.cached_tokens,
            "cache_write_tokens": None,  # OpenAI reports no cache writes
            "reasoning_tokens": CHAT.reasoning_tokens,
            **ATTRIBUTED,
        },
        "openai.embeddings": {
            "name": "openai.embeddings",
            "scope_name": "opentelemetry.instrumentation.openai.v1",
            "provider": "openai",
            "operation": "embeddings",
            "request_model": EMBED.model,
            "response_model": EMBED.model,
            "input_tokens": EMBED.prompt_tokens,
            "output_tokens": None,
            # OpenLLMetry sets gen_ai.usage.cache_read.input_tokens=0 when the response has
            # no prompt_tokens_details (embedding responses never do).
            "cache_read_tokens": 0,
            "cache_write_tokens": None,
            "reasoning_tokens": None,
            **ATTRIBUTED,
        },
    }


def test_openinference_openai_calls(
    request: pytest.FixtureRequest, server: ServerProcess, stub: OpenAIStub
) -> None:
    calls = run_app(request, "openinference", stub, server, "grpc")

    assert calls == {
        "ChatCompletion": {
            "name": "ChatCompletion",
            "scope_name": "openinference.instrumentation.openai",
            "provider": "openai",  # from llm.system
            "operation": "llm",  # the OpenInference span kind
            # OpenInference sets only llm.model_name, from the response (the requested
            # "gpt-4o" is inside llm.invocation_parameters): the dated model, as the request.
            "request_model": CHAT.model,
            "response_model": None,
            "input_tokens": CHAT.prompt_tokens,
            "output_tokens": CHAT.completion_tokens,
            "cache_read_tokens": CHAT.cached_tokens,
            "cache_write_tokens": None,
            "reasoning_tokens": CHAT.reasoning_tokens,
            **ATTRIBUTED,
        },
        "CreateEmbeddings": {
            "name": "CreateEmbeddings",
            "scope_name": "openinference.instrumentation.openai",
            "provider": "openai",
            "operation": "embedding",
            # OpenInference names the model of an EMBEDDING span `embedding.model_name`.
            "request_model": EMBED.model,
            "response_model": None,
            "input_tokens": EMBED.prompt_tokens,
            "output_tokens": None,
            "cache_read_tokens": None,
            "cache_write_tokens": None,
            "reasoning_tokens": None,
            **ATTRIBUTED,
        },
    }
