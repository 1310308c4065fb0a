"""Layered spans: one model call seen by two instrumentations is counted once.

A framework or proxy span (an OpenInference LangChain `LLM` span, a LiteLLM proxy or SDK
span, an OpenLLMetry LangChain `chat` span, a Pydantic AI `chat` span, the AI SDK's
`embeddings` root) often sits over the client library's span for the same request, and both
are model calls carrying the same usage. A model-call span is a **layer** of its nearest
model-call ancestor (or of a model-call sibling enclosing it in time, see `LINKS`) when that
one has the same usage (input and output tokens, null read as
0, more than 0 in all) and a compatible model (`compatible_models`). Each outer span takes at
most one such inner span (the first to arrive, then to start), so the layers of one call form
a chain, outermost first; siblings never merge, and an inner span the outer did not take
stays a call of its own.

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

`find_layers` works in SQL on the temp table `attribution_calls` the attribution job builds
(its model calls with `outer_call`, their nearest model-call ancestor); only the model-name
comparison runs in Python, once per distinct combination of names. Deterministic (ties end
on span ids) and independent of how the batches were grouped into job runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import duckdb
import pyarrow as pa

from warehouse.store.staging import registered

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


# Each model call under a model-call span of the same usage, with both spans' models; and
# each model call a model-call *sibling* of the same usage encloses in time, strictly (the
# sibling starts earlier or ends later): OpenInference LangChain does not make its LLM span
# the current context (`_tracer.py`: its `context_api.attach` is commented out), so the
# client library's span of the same request lands beside it, not under it. Siblings of equal
# times (or in sequence) stay two calls, and so do siblings of one instrumentation scope: a
# library does not layer over itself beside itself; those are parallel calls of equal usage
# (a batch classifying tickets of one template).
LINKS = """
CREATE OR REPLACE TEMP TABLE layer_links AS
SELECT i.trace_id, i.span_id AS inner_id, o.span_id AS outer_id,
       i.batch_id, i.start_time, i.depth,
       o.request_model AS outer_request, o.response_model AS outer_response,
       i.request_model AS inner_request, i.response_model AS inner_response
FROM attribution_calls i
JOIN attribution_calls o ON o.trace_id = i.trace_id AND (
        o.span_id = i.outer_call
        OR (o.span_id <> i.span_id AND o.outer_call IS NOT DISTINCT FROM i.outer_call
            AND o.depth IS NOT DISTINCT FROM i.depth
            AND o.scope_name IS DISTINCT FROM i.scope_name
            AND o.start_time <= i.start_time AND o.end_time >= i.end_time
            AND (o.start_time < i.start_time OR o.end_time > i.end_time))
    )
WHERE o.input_tokens = i.input_tokens AND o.output_tokens = i.output_tokens
  AND i.input_tokens + i.output_tokens > 0
"""

MODEL_PAIRS = """
SELECT DISTINCT outer_request, outer_response, inner_request, inner_response FROM layer_links
"""

_PAIR = ("outer_request", "outer_response", "inner_request", "inner_response")
DROP_INCOMPATIBLE = """
DELETE FROM layer_links l USING incompatible x
WHERE l.outer_request IS NOT DISTINCT FROM x.outer_request
  AND l.outer_response IS NOT DISTINCT FROM x.outer_response
  AND l.inner_request IS NOT DISTINCT FROM x.inner_request
  AND l.inner_response IS NOT DISTINCT FROM x.inner_response
"""

# `layers`: every member of a chain, its rank from the outermost (0) and the member keying
# the chain's call: the first to arrive, then the innermost.
CHAINS = """
CREATE OR REPLACE TEMP TABLE layers AS
WITH RECURSIVE
    taken AS (  -- each outer span takes one inner span: the first to arrive, then to start
        SELECT trace_id, inner_id, outer_id FROM layer_links
        QUALIFY row_number() OVER (
            PARTITION BY trace_id, outer_id ORDER BY batch_id, start_time, depth DESC, inner_id
        ) = 1
    ),
    heads AS (
        SELECT t.trace_id, t.outer_id AS span_id FROM taken t
        ANTI JOIN taken u ON u.trace_id = t.trace_id AND u.inner_id = t.outer_id
    ),
    chain AS (
        SELECT trace_id, span_id AS head, span_id, 0 AS rank FROM heads
        UNION ALL
        SELECT c.trace_id, c.head, t.inner_id, c.rank + 1
        FROM chain c JOIN taken t ON t.trace_id = c.trace_id AND t.outer_id = c.span_id
    )
SELECT c.trace_id, c.span_id,
       arg_min(c.span_id, (a.batch_id, -c.rank, c.span_id))
           OVER (PARTITION BY c.trace_id, c.head) AS call_span_id,
       c.rank
FROM chain c JOIN attribution_calls a ON a.trace_id = c.trace_id AND a.span_id = c.span_id
"""


def find_layers(cursor: duckdb.DuckDBPyConnection) -> None:
    """Build the temp table `layers` (trace_id, span_id, call_span_id, rank) from
    `attribution_calls`; the caller drops it (and `layer_links`) or rolls them back."""
    cursor.execute(LINKS)
    incompatible = [
        pair
        for pair in cursor.execute(MODEL_PAIRS).fetchall()
        if not compatible_models(pair[:2], pair[2:])
    ]
    if incompatible:
        columns = list(zip(*incompatible, strict=True))
        table = pa.table(
            {c: pa.array(v, type=pa.string()) for c, v in zip(_PAIR, columns, strict=True)}
        )
        with registered(cursor, "incompatible", table):
            cursor.execute(DROP_INCOMPATIBLE)
    cursor.execute(CHAINS)
