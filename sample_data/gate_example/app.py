"""The product under test: support answers and ticket summaries through the `openai` client.

`GATE_EXAMPLE_CHANGE` stands for a pull request: unset is main; `double-prompt` sends the
policy text twice (a costlier prompt); `cheaper-model` answers with gpt-4o-mini."""

from __future__ import annotations

import os

import openai
from opentelemetry import trace

POLICY = (
    "You are the support assistant of a shop. Answer in two sentences, in the customer's "
    "language, politely. Refunds are possible within 30 days of delivery; shipping takes 2 to "
    "5 working days; orders can be changed until they ship. "
) * 40
tracer = trace.get_tracer("gate_example.app")


def change() -> str:
    return os.environ.get("GATE_EXAMPLE_CHANGE", "")


def answer(client: openai.OpenAI, question: str) -> str:
    """The critical path `support.answer`."""
    system = POLICY * 2 if change() == "double-prompt" else POLICY
    model = "gpt-4o-mini" if change() == "cheaper-model" else "gpt-4o"
    # The feature production traffic reports is the gate's path too (production volume).
    with tracer.start_as_current_span(
        "answer", attributes={"spendscope.feature": "support.answer"}
    ):
        response = client.chat.completions.create(
            model=model,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
        )
    return response.choices[0].message.content or ""


def summarize(client: openai.OpenAI, ticket: str) -> str:
    """The critical path `support.summarize` (a gate-only name: `spendscope.path`),
    unchanged by every example change."""
    with tracer.start_as_current_span(
        "summarize", attributes={"spendscope.path": "support.summarize"}
    ):
        response = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"Summarize in one line: {ticket}"}],
        )
    return response.choices[0].message.content or ""
