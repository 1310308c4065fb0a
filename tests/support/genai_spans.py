"""Model calls as an app instrumented with the OTel GenAI conventions records them, through the
real OTel SDK: a chat span under a request's root span, with explicit times."""

from __future__ import annotations

import datetime as dt

from opentelemetry.trace import Span, Status, StatusCode, Tracer, set_span_in_context
from opentelemetry.util.types import Attributes


def nanos(moment: dt.datetime) -> int:
    """An OTel timestamp (ns since the epoch), exact to the microsecond a datetime holds."""
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def chat_call(
    tracer: Tracer,
    parent: Span,
    start: dt.datetime,
    model: str,
    tokens: tuple[int, int],
    *,
    duration_ns: int = 500_000_000,
    attributes: Attributes | None = None,
    error: str | None = None,
) -> None:
    """An OpenAI chat call of `model` under `parent`: (input, output) `tokens`, `duration_ns`
    long, failed with `error` when given."""
    span = tracer.start_span(
        f"chat {model}",
        context=set_span_in_context(parent),
        start_time=nanos(start),
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": tokens[0],
            "gen_ai.usage.output_tokens": tokens[1],
            **(attributes or {}),
        },
    )
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error))
    span.end(end_time=nanos(start) + duration_ns)
