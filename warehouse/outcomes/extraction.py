"""The `outcomes` job: outcomes reported inside spans, taken from the committed spans.

Incremental by ingest batch, like attribution: the spans of batches in (low, high] whose
events or attributes mention `spendscope.outcome` are read with DuckDB's JSON functions,
so the ingest hot path does nothing for outcomes. They are unpacked a slice at a time
(`SLICE_BYTES` of events and attributes, by row id), so the memory a run needs does not
grow with the chunk. Each span event named
`spendscope.outcome` (or carrying `spendscope.outcome.name`) is one outcome; a span whose
own attributes carry `spendscope.outcome.name` is another. A span attribute
`spendscope.outcome.key` also links that business key to the span's trace
(`outcome_key_links`).

Its housekeeping, run first on every run even when no batch is new, is the warehouse's one
outcome sequencer: it numbers the outcomes committed without an ingest sequence, whichever
way they came (`warehouse.outcomes.records.sequence_outcomes`). The jobs run on one node only, so
`seq` grows in commit order.

The validation is the one in `warehouse.outcomes.records` (the Python rules used for log records
and the API), written in SQL. Outcomes that break it are skipped and logged: a span has been
acknowledged long before this job reads it, so there is no client to tell.
"""

from __future__ import annotations

import datetime as dt
import logging

import duckdb

from warehouse.outcomes.records import (
    COUNT_ATTRIBUTE,
    FEATURE_ATTRIBUTE,
    ID_ATTRIBUTE,
    KEY_ATTRIBUTE,
    MAX_COUNT,
    MAX_KEY_CHARS,
    MAX_NAME_CHARS,
    NAME_ATTRIBUTE,
    NUMBER_PATTERN,
    OUTCOME_EVENT,
    SUCCESS_ATTRIBUTE,
    sequence_outcomes,
)
from warehouse.store.numbering import on_lake
from warehouse.store.upsert import insert_new

log = logging.getLogger(__name__)

NAME = "outcomes"


def _path(attribute: str) -> str:
    return f"'$.\"{attribute}\"'"


def _type(attribute: str) -> str:
    """The JSON type of an attribute of `a`; JSON null counts as absent."""
    return f"nullif(json_type(a, {_path(attribute)}), 'NULL')"


def _text(attribute: str) -> str:
    return f"json_extract_string(a, {_path(attribute)})"


_NUMBER = "('UBIGINT', 'BIGINT', 'DOUBLE', 'VARCHAR')"
_MENTIONS_OUTCOMES = (
    f"(contains(events, '{OUTCOME_EVENT}') OR contains(attributes, '{OUTCOME_EVENT}.'))"
)

# The spans of a chunk that mention outcomes are read a slice at a time: consecutive rows
# holding about this many bytes of events and attributes (a larger span is a slice of its
# own), so the JSON a run unpacks at once does not grow with the chunk.
SLICE_BYTES = 4 * 1024 * 1024

# The slices, as (first, last) row ids; the running total starts each slice anew at every
# multiple of $slice_bytes.
SLICES = f"""
SELECT min(row_id), max(row_id)
FROM (
    SELECT row_id, (sum(size) OVER (ORDER BY row_id) - size) // $slice_bytes AS slice
    FROM (
        SELECT rowid AS row_id,
               coalesce(strlen(events), 0) + coalesce(strlen(attributes), 0) AS size
        FROM spans
        WHERE batch_id > $low AND batch_id <= $high AND {_MENTIONS_OUTCOMES}
    )
)
GROUP BY slice
ORDER BY 1
"""

# One row per candidate outcome in the batches, typed, with `problem` NULL when valid.
CANDIDATES = f"""
CREATE OR REPLACE TEMP TABLE outcome_candidates AS
WITH
    fresh AS (
        SELECT trace_id, span_id, start_time, end_time, received_at, session_id, feature,
               tenant_id, events, attributes
        FROM spans
        WHERE batch_id > $low AND batch_id <= $high AND rowid BETWEEN $first AND $last
          AND {_MENTIONS_OUTCOMES}
    ),
    span_events AS (
        SELECT * EXCLUDE (events, attributes, evs),
               unnest(evs) AS ev, generate_subscripts(evs, 1) - 1 AS event_index
        FROM (SELECT *, json_extract(events, '$[*]') AS evs FROM fresh
              WHERE contains(events, '{OUTCOME_EVENT}'))
    ),
    raw AS (
        SELECT 'span_event' AS source, trace_id, span_id, event_index, ev -> 'attributes' AS a,
               CASE WHEN TRY_CAST(ev ->> 'time_unix_nano' AS BIGINT) > 0
                   THEN make_timestamp(TRY_CAST(ev ->> 'time_unix_nano' AS BIGINT) // 1000)
                   ELSE end_time END AS occurred_at,
               received_at, session_id, feature AS span_feature, tenant_id
        FROM span_events
        WHERE ev ->> 'name' = '{OUTCOME_EVENT}'
           OR json_exists(ev, '$.attributes."{NAME_ATTRIBUTE}"')
        UNION ALL
        SELECT 'span_attribute', trace_id, span_id, NULL, attributes::JSON, end_time,
               received_at, session_id, feature, tenant_id
        FROM fresh
        WHERE json_exists(attributes, {_path(NAME_ATTRIBUTE)})
    ),
    typed AS (
        SELECT *,
            {_type(NAME_ATTRIBUTE)} AS name_type, trim({_text(NAME_ATTRIBUTE)}) AS name,
            {_type(COUNT_ATTRIBUTE)} AS count_type,
            TRY_CAST({_text(COUNT_ATTRIBUTE)} AS DOUBLE) AS count_value,
            {_type(SUCCESS_ATTRIBUTE)} AS success_type,
            lower({_text(SUCCESS_ATTRIBUTE)}) AS success_text,
            {_type(KEY_ATTRIBUTE)} AS key_type,
            nullif({_text(KEY_ATTRIBUTE)}, '') AS business_key,
            {_type(FEATURE_ATTRIBUTE)} AS feature_type,
            nullif({_text(FEATURE_ATTRIBUTE)}, '') AS own_feature,
            {_type(ID_ATTRIBUTE)} AS id_type, nullif({_text(ID_ATTRIBUTE)}, '') AS client_id
        FROM raw
    )
SELECT *,
    CASE
        WHEN name_type IS DISTINCT FROM 'VARCHAR' OR name = ''
            THEN '{NAME_ATTRIBUTE} must be a non-empty string'
        WHEN length(name) > {MAX_NAME_CHARS}
            THEN '{NAME_ATTRIBUTE} is longer than {MAX_NAME_CHARS} characters'
        WHEN count_type IS NOT NULL AND (count_type NOT IN {_NUMBER} OR count_value IS NULL
                OR (count_type = 'VARCHAR'
                    AND NOT regexp_full_match({_text(COUNT_ATTRIBUTE)}, '{NUMBER_PATTERN}'))
                OR isnan(count_value) OR count_value <> floor(count_value)
                OR count_value < 0 OR count_value > {MAX_COUNT})
            THEN '{COUNT_ATTRIBUTE} must be a whole number between 0 and {MAX_COUNT}'
        WHEN success_type IS NOT NULL AND success_type <> 'BOOLEAN'
                AND (success_type <> 'VARCHAR' OR success_text NOT IN ('true', 'false'))
            THEN '{SUCCESS_ATTRIBUTE} must be a boolean'
        WHEN key_type IS NOT NULL AND key_type NOT IN ('VARCHAR', 'UBIGINT', 'BIGINT')
            THEN '{KEY_ATTRIBUTE} must be a string or an integer'
        WHEN length(business_key) > {MAX_KEY_CHARS}
            THEN '{KEY_ATTRIBUTE} is longer than {MAX_KEY_CHARS} characters'
        WHEN feature_type IS NOT NULL AND feature_type <> 'VARCHAR'
            THEN '{FEATURE_ATTRIBUTE} must be a string'
        WHEN length(own_feature) > {MAX_NAME_CHARS}
            THEN '{FEATURE_ATTRIBUTE} is longer than {MAX_NAME_CHARS} characters'
        WHEN id_type IS NOT NULL AND id_type NOT IN ('VARCHAR', 'UBIGINT', 'BIGINT')
            THEN '{ID_ATTRIBUTE} must be a string or an integer'
        WHEN length(client_id) > {MAX_KEY_CHARS}
            THEN '{ID_ATTRIBUTE} is longer than {MAX_KEY_CHARS} characters'
    END AS problem
FROM typed
"""

# Identities: mirrors warehouse.outcomes.records.explicit_id / span_event_id / span_attribute_id.
_TRACE_HEX = "lower(hex(trace_id))"
_SPAN_HEX = "lower(hex(span_id))"
OUTCOME_ID = f"""left(sha256(CASE
        WHEN client_id IS NOT NULL THEN 'id:' || client_id
        WHEN source = 'span_event'
            THEN 'span_event:' || {_TRACE_HEX} || ':' || {_SPAN_HEX} || ':' || event_index
        ELSE 'span_attribute:' || {_TRACE_HEX} || ':' || {_SPAN_HEX}
    END), 32)"""

_OUTCOME_COLUMNS = (
    "outcome_id", "source", "name", "count", "success", "occurred_at", "received_at",
    "trace_id", "span_id", "session_id", "business_key", "feature", "tenant_id", "client_id",
    "attributes",
)  # fmt: skip
_OUTCOME_ROWS = f"""
SELECT {OUTCOME_ID}, source, name,
       CASE WHEN count_type IS NULL THEN 1 ELSE count_value::BIGINT END,
       CASE WHEN success_type IS NULL THEN NULL
            WHEN success_type = 'BOOLEAN' THEN {_text(SUCCESS_ATTRIBUTE)} = 'true'
            ELSE success_text = 'true' END,
       occurred_at, received_at, trace_id, span_id, session_id, business_key,
       coalesce(own_feature, span_feature), tenant_id, client_id,
       CASE WHEN source = 'span_event' THEN a::VARCHAR END
FROM outcome_candidates
WHERE problem IS NULL
"""
INSERT_OUTCOMES = f"INSERT OR IGNORE INTO outcomes ({', '.join(_OUTCOME_COLUMNS)}) {_OUTCOME_ROWS}"
# On a lake (no key to ignore on): warehouse.store.upsert.
LAKE_INSERT_OUTCOMES = insert_new("outcomes", ("outcome_id",), _OUTCOME_COLUMNS, _OUTCOME_ROWS)

_LINK_COLUMNS = (
    "business_key", "trace_id", "span_id", "session_id", "feature", "tenant_id", "linked_at",
)  # fmt: skip
_LINK_ROWS = f"""
SELECT json_extract_string(attributes, {_path(KEY_ATTRIBUTE)}), trace_id, span_id, session_id,
       feature, tenant_id, start_time
FROM spans
WHERE batch_id > $low AND batch_id <= $high
  AND contains(attributes, '{KEY_ATTRIBUTE}')
  AND json_type(attributes, {_path(KEY_ATTRIBUTE)}) IN ('VARCHAR', 'UBIGINT', 'BIGINT')
  AND length(json_extract_string(attributes, {_path(KEY_ATTRIBUTE)}))
      BETWEEN 1 AND {MAX_KEY_CHARS}
"""
INSERT_KEY_LINKS = (
    f"INSERT OR IGNORE INTO outcome_key_links ({', '.join(_LINK_COLUMNS)}) {_LINK_ROWS}"
)
LAKE_INSERT_KEY_LINKS = insert_new(
    "outcome_key_links", ("business_key", "trace_id", "span_id"), _LINK_COLUMNS, _LINK_ROWS
)

PROBLEMS = """
SELECT count(*), any_value(problem), any_value(lower(hex(trace_id)))
FROM outcome_candidates WHERE problem IS NOT NULL
"""


def extract_outcomes(cursor: duckdb.DuckDBPyConnection, low: int, high: int) -> int:
    """Store the outcomes in spans of batches (low, high]; returns how many were new.

    The caller owns the transaction (and records the new watermark in it). Re-running a
    range stores nothing twice: outcome ids are deterministic.
    """
    if high <= low:
        return 0
    params = {"low": low, "high": high}
    slices = cursor.execute(SLICES, params | {"slice_bytes": SLICE_BYTES}).fetchall()
    lake = on_lake(cursor)
    inserted = skipped = 0
    example: tuple[str, str] | None = None
    for first, last in slices:
        cursor.execute(CANDIDATES, params | {"first": first, "last": last})
        try:
            row = cursor.execute(LAKE_INSERT_OUTCOMES if lake else INSERT_OUTCOMES).fetchone()
            inserted += int(row[0]) if row else 0
            problems = cursor.execute(PROBLEMS).fetchone()
        finally:
            cursor.execute("DROP TABLE IF EXISTS outcome_candidates")
        if problems and problems[0]:
            skipped += problems[0]
            example = example or (problems[2], problems[1])
    cursor.execute(LAKE_INSERT_KEY_LINKS if lake else INSERT_KEY_LINKS, params)
    if example is not None:
        log.warning(
            "skipped %d invalid outcomes in span batches (%d, %d], e.g. in trace %s: %s",
            skipped,
            low,
            high,
            *example,
        )
    return inserted


def sequence(cursor: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
    """The job's housekeeping: number the outcomes stored since the last run (its own from
    earlier runs, and those from log records and the API); returns how many."""
    return sequence_outcomes(cursor)
