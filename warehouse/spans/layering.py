"""Layered spans: one model call seen by two instrumentations is counted once.

A framework or proxy span (an OpenInference LangChain `LLM` span, a LiteLLM proxy or SDK
span, an OpenLLMetry LangChain `chat` span, a Pydantic AI `chat` span, the AI SDK's
`embeddings` root) often sits over the client library's span for the same request, and both
are model calls carrying the same usage. A model-call span is a **layer** of its nearest
model-call ancestor when that one has the same usage (input and output tokens, null read as
0, more than 0 in all) and a compatible model (`compatible_models`). Each outer span takes at
most one such inner span, so the layers of one call form a chain, outermost first; siblings
never merge, and an inner span the outer did not take stays a call of its own.

One chain is one model call:

- its dimensions are the outermost member's as attributed (its own or its ancestors'), each
  filled from the next member inward where the outer one has none (`attribution` does this);
- its row in `model_calls` is keyed on the member that **arrived first** (lowest ingest
  batch; within a batch the innermost, the client span closest to the wire, whose provider,
  response model and usage details are the provider's own). Pricing reads provider, model
  and tokens from that span. Because members arriving later never take the key, a chain
  whose first member is already attributed, priced and rolled up keeps its row: the late
  member only updates its attribution. Only when two members were counted apart (an
  intermediate span linking them arrived after both) is the later one's row withdrawn.

Pure functions over the candidate pairs the attribution job finds in SQL; deterministic
(ties end on span ids) and independent of how the batches were grouped into job runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Provider and region prefixes: `openai/gpt-4o`, `models/gemini-2.0-flash`,
# `us.anthropic.claude-3-5-sonnet-20240620-v1:0`. A dot followed by a letter only, so the
# version dots of `gpt-4.1` and `claude-3.5-sonnet` stay.
_PREFIX = re.compile(r"^(?:.*/)?(?:[a-z]{2}\.)?(?:[a-z0-9-]+\.(?=[a-z]))?")
# Snapshot suffixes: dates (`-2024-08-06`, `-20250929`, `@20240620`), Bedrock versions
# (`-v1:0`), numbered revisions (`-0613`, `-002`) and `-latest`.
_SUFFIX = re.compile(r"(?:[-@]\d{4}-?\d{2}-?\d{2}|-v\d+(?::\d+)?|-\d{3,4}|-latest)$")


def model_family(model: str) -> str:
    """A model name without provider prefix and snapshot suffixes, lower-cased."""
    name = _PREFIX.sub("", model.strip().lower(), count=1)
    while (stripped := _SUFFIX.sub("", name)) != name:
        name = stripped
    return name


def compatible_models(outer: Iterable[str | None], inner: Iterable[str | None]) -> bool:
    """Whether two spans' models (request and response) can name one call: true when either
    names none, or when one family equals the other or extends it (`gpt-4o`,
    `gpt-4o-2024-08-06`). A proxy alias (`smart`) matches only through a response model."""
    left = {model_family(m) for m in outer if m}
    right = {model_family(m) for m in inner if m}
    if not left or not right:
        return True
    return any(
        a == b or a.startswith(b + "-") or b.startswith(a + "-") for a in left for b in right
    )


@dataclass(frozen=True, slots=True)
class Member:
    """A model-call span as layering sees it."""

    span_id: bytes
    batch_id: int
    depth: int  # from its trace's root
    start_ns: int
    models: tuple[str | None, ...]  # request and response model


@dataclass(frozen=True, slots=True)
class Candidate:
    """`outer` is the nearest model-call ancestor of `inner` in `trace_id`, with the same
    usage."""

    trace_id: bytes
    inner: Member
    outer: Member


@dataclass(frozen=True, slots=True)
class Layer:
    """A member of a chain: `call_span_id` keys the chain's one model call, `rank` counts
    from the outermost member (0) inward."""

    trace_id: bytes
    span_id: bytes
    call_span_id: bytes
    rank: int


def _arrival(member: Member) -> tuple[int, int, int, bytes]:
    """Which inner span an outer takes first: the earliest to arrive, then to start."""
    return (member.batch_id, member.start_ns, -member.depth, member.span_id)


def _key(member: Member) -> tuple[int, int, bytes]:
    """Which member keys the chain: the earliest to arrive, then the innermost."""
    return (member.batch_id, -member.depth, member.span_id)


def chains(candidates: Iterable[Candidate]) -> list[Layer]:
    """The layers of every chain of two or more members."""
    taken: dict[tuple[bytes, bytes], Candidate] = {}
    for candidate in candidates:
        if not compatible_models(candidate.outer.models, candidate.inner.models):
            continue
        key = (candidate.trace_id, candidate.outer.span_id)
        held = taken.get(key)
        if held is None or _arrival(candidate.inner) < _arrival(held.inner):
            taken[key] = candidate
    outer_of = {(c.trace_id, c.inner.span_id): c for c in taken.values()}
    inner_of = {(c.trace_id, c.outer.span_id): c for c in taken.values()}
    layers: list[Layer] = []
    for (trace_id, span_id), candidate in inner_of.items():
        if (trace_id, span_id) in outer_of:
            continue  # not the outermost member: its chain starts higher up
        members = [candidate.outer]
        link: Candidate | None = candidate
        while link is not None:
            members.append(link.inner)
            link = inner_of.get((trace_id, link.inner.span_id))
        call = min(members, key=_key).span_id
        layers.extend(
            Layer(trace_id, member.span_id, call, rank) for rank, member in enumerate(members)
        )
    return layers
