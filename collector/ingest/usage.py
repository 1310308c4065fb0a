"""Token counts and reported costs of one span, read from the attributes that won.

Input tokens are stored inclusive of cache reads and writes, output tokens inclusive of
reasoning: how to get there depends on the emitter (`collector.ingest.emitters`); for an
unknown one, cache counts above the reported input mean it was exclusive, and otherwise it is
read as inclusive and the guess is flagged. Langfuse's
`usage_details` are disjoint usage types and are summed; its `cost_details` without a total
are summed too. A count or cost that cannot be right rejects the span (`SpanRejected`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from collector.ingest.conventions import (
    COST,
    LANGFUSE_CACHE_READ,
    LANGFUSE_CACHE_WRITE,
    LANGFUSE_REASONING,
    LF_COST,
    OPENAI_USAGE_KEYS,
    Found,
)
from collector.ingest.emitters import (
    INPUT_CONTRADICTED,
    INPUT_GUESSED,
    REASONING_FROM_TOTAL,
    REASONING_GUESSED,
    REASONING_NOT_REPORTED,
    InputRule,
    ReasoningRule,
)
from collector.ingest.rejections import SpanRejected

# Largest token count accepted for one call. Above it the span is rejected (partial success):
# no model has a context near it, so it can only be a bug in the client.
MAX_TOKENS = 1_000_000_000
# Largest reported cost accepted for one call, in USD.
MAX_REPORTED_COST = Decimal(1_000_000)


@dataclass(slots=True)
class Counts:
    """One span's token counts as read (None: not reported), then as stored."""

    input: int | None
    output: int | None
    cache_read: int | None
    cache_write: int | None
    reasoning: int | None
    no_cache: int | None = None
    total: int | None = None

    def values(self) -> tuple[int | None, ...]:
        return (self.input, self.output, self.cache_read, self.cache_write, self.reasoning)


def counted_tokens(
    counts: Counts, input_rule: InputRule, reasoning_rule: ReasoningRule
) -> list[str]:
    """Make `counts.input` inclusive of cache reads and writes and `counts.output` inclusive of
    reasoning, by the emitter's rules (`collector.ingest.emitters`); returns the assumptions
    made (`pricing_assumption` codes). Raises SpanRejected when a count is too large."""
    flags: list[str] = []
    cached = (counts.cache_read or 0) + (counts.cache_write or 0)
    if counts.no_cache is not None:  # Vercel v6+: the uncached part, so input = it + cached
        counts.input = max(counts.no_cache + cached, counts.input or 0)
    elif counts.input is None:
        counts.input = cached if cached else None
    elif cached:
        if input_rule == "exclusive" or cached > counts.input:
            if input_rule == "inclusive":
                flags.append(INPUT_CONTRADICTED)  # cannot be inclusive: read as exclusive
            counts.input += cached
        elif input_rule == "guess":
            flags.append(INPUT_GUESSED)
    if reasoning_rule == "dropped" and counts.reasoning is None:
        _recover_reasoning(counts, flags)
    elif counts.reasoning is not None:
        if counts.output is None:
            counts.output = counts.reasoning
        elif reasoning_rule == "beside" or counts.reasoning > counts.output:
            counts.output += counts.reasoning
        elif reasoning_rule == "guess" and counts.reasoning:
            flags.append(REASONING_GUESSED)
    for count in counts.values():
        if count is not None and count > MAX_TOKENS:
            raise SpanRejected(f"token count {count} exceeds the limit of {MAX_TOKENS}")
    return flags


def _recover_reasoning(counts: Counts, flags: list[str]) -> None:
    """Thinking tokens the emitter dropped: the provider total minus input and output."""
    if counts.output is None:
        return
    if counts.total is None:
        flags.append(REASONING_NOT_REPORTED)
        return
    gap = counts.total - (counts.input or 0) - counts.output
    if gap > 0:
        counts.reasoning = gap
        counts.output += gap
        flags.append(REASONING_FROM_TOTAL)


def to_int(value: Any, key: str) -> int:
    if isinstance(value, bool):
        raise SpanRejected(f"{key} must be a number, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise SpanRejected(f"{key} must be a whole number, got {value!r}")
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            raise SpanRejected(f"{key} must be a whole number, got {value[:40]!r}") from None
    else:
        raise SpanRejected(f"{key} must be a number")
    if number < 0:
        raise SpanRejected(f"{key} is negative ({number})")
    if number > MAX_TOKENS:
        raise SpanRejected(f"{key} ({number}) exceeds the limit of {MAX_TOKENS}")
    return number


def tokens(found: Found, concept: int) -> int | None:
    hit = found.get(concept)
    if hit is None:
        return None
    return to_int(hit[2], hit[1])


TokenCounts = tuple[int | None, int | None, int | None, int | None, int | None]


def langfuse_usage(raw: Any) -> TokenCounts | None:
    """Tokens from Langfuse's `usage_details` JSON; None when it names no input or output.

    Langfuse usage types are disjoint and priced separately (`input` excludes cached input,
    `output` excludes reasoning; the total is their sum), so every input-side type adds to
    the input and every output-side type to the output. An OpenAI usage object passed as is
    (`prompt_tokens`, `*_tokens_details`) is inclusive and read as such.
    """
    details = _json_object(raw, "langfuse.observation.usage_details")
    if any(key in details for key in OPENAI_USAGE_KEYS):
        return _openai_usage(details)
    input_tokens = output_tokens = cache_read = cache_write = reasoning = None
    for key, value in details.items():
        if key in LANGFUSE_CACHE_READ:
            count = to_int(value, f"usage_details.{key}")
            cache_read = (cache_read or 0) + count
            input_tokens = (input_tokens or 0) + count
        elif key in LANGFUSE_CACHE_WRITE:
            count = to_int(value, f"usage_details.{key}")
            cache_write = (cache_write or 0) + count
            input_tokens = (input_tokens or 0) + count
        elif key in LANGFUSE_REASONING:
            count = to_int(value, f"usage_details.{key}")
            reasoning = (reasoning or 0) + count
            output_tokens = (output_tokens or 0) + count
        elif "input" in key:
            input_tokens = (input_tokens or 0) + to_int(value, f"usage_details.{key}")
        elif "output" in key:
            output_tokens = (output_tokens or 0) + to_int(value, f"usage_details.{key}")
    if input_tokens is None and output_tokens is None:
        return None
    return input_tokens, output_tokens, cache_read, cache_write, reasoning


def _openai_usage(details: Mapping[str, Any]) -> TokenCounts | None:
    def count(*path: str) -> int | None:
        node: Any = details
        for step in path:
            if not isinstance(node, Mapping) or node.get(step) is None:
                return None
            node = node[step]
        return to_int(node, "usage_details." + ".".join(path))

    input_tokens = count("prompt_tokens")
    if input_tokens is None:
        input_tokens = count("input_tokens")
    output_tokens = count("completion_tokens")
    if output_tokens is None:
        output_tokens = count("output_tokens")
    cache_read = count("prompt_tokens_details", "cached_tokens")
    if cache_read is None:
        cache_read = count("input_tokens_details", "cached_tokens")
    if cache_read is None:
        cache_read = count("cache_read_input_tokens")
    cache_write = count("cache_creation_input_tokens")
    reasoning = count("completion_tokens_details", "reasoning_tokens")
    if reasoning is None:
        reasoning = count("output_tokens_details", "reasoning_tokens")
    if input_tokens is None and output_tokens is None:
        return None
    return input_tokens, output_tokens, cache_read, cache_write, reasoning


def _json_object(raw: Any, key: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str | bytes):
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise SpanRejected(f"{key} is not valid JSON") from None
        if isinstance(parsed, dict):
            return parsed
    raise SpanRejected(f"{key} must be a JSON object")


def reported_cost(found: Found) -> float | None:
    hit = found.get(COST)
    if hit is not None:
        return _cost(hit[2], hit[1])
    if LF_COST not in found:
        return None
    details = _json_object(found[LF_COST][2], "langfuse.observation.cost_details")
    if "total" in details:
        return _cost(details["total"], "cost_details.total")
    if not details:
        return None
    # Langfuse: without a total, the total is the sum of the cost types.
    try:
        total = sum(_decimal(value, f"cost_details.{key}") for key, value in details.items())
    except ArithmeticError:  # decimal.Overflow: parts beyond the exponent range (1e1000000)
        raise SpanRejected("cost_details out of range (the sum overflows)") from None
    return _cost(total, "cost_details")


def _cost(raw: Any, key: str) -> float | None:
    if raw is None:
        return None
    cost = _decimal(raw, key)
    if cost < 0 or cost > MAX_REPORTED_COST:
        raise SpanRejected(f"{key} out of range ({_preview(raw)})")
    return float(cost)


def _decimal(raw: Any, key: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        raise SpanRejected(f"{key} must be a number")
    try:
        cost = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise SpanRejected(f"{key} must be a number, got {_preview(raw)}") from None
    if not cost.is_finite():
        raise SpanRejected(f"{key} must be a finite number, got {_preview(raw)}")
    return cost


def _preview(raw: Any) -> str:
    try:
        return repr(str(raw)[:40])
    except ValueError:  # an integer too long to print
        return "a number too long to show"
