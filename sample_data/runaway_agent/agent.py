"""An agent loop that runs away and is stopped by spendscope's budget check.

The agent retries a tool that keeps failing, and every retry sends the whole, growing
conversation to the model again: nothing in the loop ends it. Before each model call it asks
spendscope (`collector.client_budget.BudgetClient.require`); once the session has spent its
limit (`[budget_check] session_usd` in the detection file), the check denies and the loop
stops on `BudgetExceeded`.

Each model call is a span exported by the real OTel SDK (OTLP/HTTP protobuf) with the GenAI
attributes and the session, tenant and feature. The processor is synchronous: a span is
exported (durable: spendscope answers 200 only after the commit) before the next check, so
the check sees every call. The model is simulated (no network): a call's usage is its
prompt's size, so the cost of each step grows as real runaway loops do.

    python -m sample_data.runaway_agent.agent --url http://127.0.0.1:4318 \
        --session runaway-1 --tenant acme --feature support-agent
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from collector.client_budget import BudgetClient, BudgetExceeded

MODEL = "gpt-4o"
SYSTEM_TOKENS = 1_200  # the agent's instructions and tool schemas
STEP_TOKENS = 900  # what one failed tool call adds to the conversation
OUTPUT_TOKENS = 350
MAX_STEPS = 10_000  # a safety net for the example only: the budget stops it long before


@dataclass
class Run:
    steps: int = 0
    stopped_by: BudgetExceeded | None = None


def tracer_provider(url: str, token: str | None) -> TracerProvider:
    headers = {"authorization": f"Bearer {token}"} if token else None
    exporter = OTLPSpanExporter(endpoint=f"{url.rstrip('/')}/v1/traces", headers=headers)
    provider = TracerProvider(resource=Resource.create({"service.name": "runaway-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def run_agent(
    budget: BudgetClient, provider: TracerProvider, *, session: str, tenant: str, feature: str
) -> Run:
    """Loop until the budget check denies (or MAX_STEPS)."""
    tracer = provider.get_tracer("sample_data.runaway_agent")
    run = Run()
    context_tokens = SYSTEM_TOKENS
    while run.steps < MAX_STEPS:
        try:
            budget.require(session_id=session, feature=feature, tenant=tenant)
        except BudgetExceeded as exc:
            run.stopped_by = exc
            return run
        attributes: dict[str, str | int] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": MODEL,
            "gen_ai.response.model": MODEL,
            "gen_ai.usage.input_tokens": context_tokens,
            "gen_ai.usage.output_tokens": OUTPUT_TOKENS,
            "session.id": session,
            "spendscope.tenant": tenant,
            "spendscope.feature": feature,
        }
        with tracer.start_as_current_span(f"chat {MODEL}", attributes=attributes):
            pass  # the simulated model call: its usage is the span's
        run.steps += 1
        context_tokens += STEP_TOKENS  # the tool failed again; the agent retries
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:4318", help="spendscope's HTTP URL")
    parser.add_argument("--token", default=None, help="an API token, if the service needs one")
    parser.add_argument("--session", default="runaway-1")
    parser.add_argument("--tenant", default="acme")
    parser.add_argument("--feature", default="support-agent")
    parser.add_argument(
        "--fail-closed", action="store_true", help="stop when spendscope cannot be asked"
    )
    args = parser.parse_args(argv)
    budget = BudgetClient(args.url, args.token, fail_open=not args.fail_closed)
    provider = tracer_provider(args.url, args.token)
    try:
        run = run_agent(
            budget, provider, session=args.session, tenant=args.tenant, feature=args.feature
        )
    finally:
        provider.shutdown()
    stopped = run.stopped_by
    print(
        json.dumps(
            {
                "steps": run.steps,
                "stopped": stopped is not None,
                "scope": stopped.scope if stopped else None,
                "spend_usd": str(stopped.spend_usd) if stopped else None,
                "limit_usd": str(stopped.limit_usd) if stopped else None,
                "reason": str(stopped) if stopped else None,
            }
        )
    )
    return 0 if stopped is not None else 1


if __name__ == "__main__":
    sys.exit(main())
