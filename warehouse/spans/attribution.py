"""Attribution: model calls inherit feature, session, user, tenant, environment and agent
from their ancestor spans, whatever order the spans arrived in.

Incremental by ingest batch: every trace that received a span since the watermark is
re-resolved whole, so a root that arrives after its children still attributes them. The
nearest span that sets a dimension wins; a model call's own value beats its ancestors'.
A span whose parent has not arrived is treated as a root until the parent comes.

A dirty trace is read whole, however long ago it started: an agent session may run for days.
(A time horizon on the scan used to cut ancestors older than a day off, and it did not make
the scan cheaper: measured on 3M spans it was as fast or, with every span inside the horizon,
ten times slower than the semi-join on trace ids alone.)

The walk from the roots never reaches a span caught in a parent cycle (or below one), nor a
span deeper than `MAX_DEPTH`; such a model call keeps its own dimensions rather than
vanishing from `model_calls`, so every model-call span is attributed exactly once.

Layered spans (`warehouse.spans.layering`): a model-call span over another model-call span of
the same usage (a framework or proxy over the client library) is one call. The walk carries
each span's model-call ancestors; the chains found among them become one `model_calls` row
each, keyed on the member that arrived first, with the outermost member's dimensions. A
member's row is withdrawn only if it was written before its chain was known.
"""

from __future__ import annotations

import logging

import duckdb

from warehouse.spans import layering
from warehouse.store.upsert import replace_into

log = logging.getLogger(__name__)

NAME = "attribution"
MAX_DEPTH = 64  # spans deeper than this keep their own dimensions
DIMENSIONS = ("feature", "session_id", "user_id", "tenant_id", "environment", "agent_name")

_INHERIT = ",\n            ".join(f"coalesce(c.{d}, w.{d})" for d in DIMENSIONS)
_OWN = ", ".join(DIMENSIONS)

# The model calls of the traces touched by batches (low, high], with their dimensions
# resolved and `outer_call`: their nearest model-call ancestor (NULL when there is none or
# the walk did not reach them).
RESOLVE_TRACES = f"""
CREATE OR REPLACE TEMP TABLE attribution_calls AS
WITH RECURSIVE
    fresh AS (  -- the traces that received spans in these batches
        SELECT DISTINCT trace_id FROM spans WHERE batch_id > $low AND batch_id <= $high
    ),
    trace_spans AS (
        SELECT s.trace_id, s.span_id, s.parent_span_id, s.is_model_call, s.start_time,
               s.end_time, s.batch_id, s.input_tokens, s.output_tokens, s.request_model,
               s.response_model, s.feature_default, s.scope_name,
               {", ".join("s." + d for d in DIMENSIONS)}
        FROM spans s SEMI JOIN fresh USING (trace_id)
    ),
    roots AS (
        SELECT t.* FROM trace_spans t
        WHERE t.parent_span_id IS NULL OR NOT EXISTS (
            SELECT 1 FROM trace_spans p
            WHERE p.trace_id = t.trace_id AND p.span_id = t.parent_span_id
        )
    ),
    walk AS (
        SELECT trace_id, span_id, 0 AS depth, is_model_call, NULL::BLOB AS outer_call, {_OWN}
        FROM roots
        UNION ALL
        SELECT c.trace_id, c.span_id, w.depth + 1, c.is_model_call,
            CASE WHEN w.is_model_call THEN w.span_id ELSE w.outer_call END,
            {_INHERIT}
        FROM trace_spans c JOIN walk w
            ON c.trace_id = w.trace_id AND c.parent_span_id = w.span_id
        WHERE w.depth < {MAX_DEPTH}
    ),
    resolved AS (
        SELECT trace_id, span_id, depth, outer_call, {_OWN} FROM walk WHERE is_model_call
        UNION ALL
        -- Model calls the walk did not reach (parent cycles, too deep) keep their own.
        SELECT trace_id, span_id, NULL, NULL, {_OWN} FROM trace_spans t
        WHERE t.is_model_call AND NOT EXISTS (
            SELECT 1 FROM walk w WHERE w.trace_id = t.trace_id AND w.span_id = t.span_id
        )
    )
SELECT t.trace_id, t.span_id, t.start_time, t.end_time, t.batch_id, r.depth, r.outer_call,
       coalesce(t.input_tokens, 0) AS input_tokens,
       coalesce(t.output_tokens, 0) AS output_tokens,
       t.request_model, t.response_model, t.feature_default, t.scope_name,
       {", ".join("r." + d for d in DIMENSIONS)}
FROM resolved r JOIN trace_spans t USING (trace_id, span_id)
"""


def _first(column: str) -> str:
    """The outermost member's value of a dimension, else the next member's inward."""
    return f"arg_min({column}, rank) FILTER (WHERE {column} IS NOT NULL)"


# One row per call: a call outside any chain as it is; a chain's members collapse onto the
# member that keys it.
ATTRIBUTE_CALLS = replace_into(
    "model_calls",
    ("trace_id", "span_id"),
    f"""
SELECT trace_id, span_id, start_time, coalesce(feature, feature_default),
       {", ".join(DIMENSIONS[1:])}, $high
FROM attribution_calls ANTI JOIN layers USING (trace_id, span_id)
UNION ALL
SELECT trace_id, call_span_id,
       any_value(start_time) FILTER (WHERE span_id = call_span_id),
       coalesce({_first("feature")}, {_first("feature_default")}),
       {", ".join(_first(d) for d in DIMENSIONS[1:])},
       $high
FROM attribution_calls JOIN layers USING (trace_id, span_id)
GROUP BY trace_id, call_span_id
""",
)


# Members written as calls of their own before their chain was known.
# (Without RETURNING, which a lake's DELETE lacks: the delete's own count is the number.)
WITHDRAW = """
DELETE FROM model_calls m
USING layers l
WHERE m.trace_id = l.trace_id AND m.span_id = l.span_id AND l.span_id <> l.call_span_id
"""


def attribute(cursor: duckdb.DuckDBPyConnection, low: int, high: int) -> int:
    """Resolve the traces touched by batches in (low, high]; returns model calls written.

    The caller owns the transaction (and records the new watermark in it).
    """
    if high <= low:
        return 0
    cursor.execute(RESOLVE_TRACES, {"low": low, "high": high})
    layering.find_layers(cursor)
    row = cursor.execute(ATTRIBUTE_CALLS, {"high": high}).fetchone()
    deleted = cursor.execute(WITHDRAW).fetchone()
    withdrawn = int(deleted[0]) if deleted else 0
    # A failed step rolls back with its transaction, the temp tables included.
    cursor.execute("DROP TABLE attribution_calls; DROP TABLE layer_links; DROP TABLE layers")
    if withdrawn:
        log.info(
            "attribution: %d model calls merged into the layered call above or below them",
            withdrawn,
        )
    return int(row[0]) if row else 0
