"""Prompt caching: what the recorded calls would have cost had their repeated input been read
from the provider's prompt cache, at the price book's cache prices.

Repeated input. Spans carry token counts, not prompts, so the repeated part is inferred the
way conversations and agent loops build prompts: within a session (else a trace), a call to
the same model whose input is at least as long as the previous call's resends that input as
the prefix of its own (a conversation grows; independent prompts of a job do not chain), so
the repeated part of such a call is the previous call's input. A call is a
candidate when that part is at least the provider's minimum cacheable prompt
(`min_cacheable`: 1,024 tokens for OpenAI and Anthropic; 2,048 for Anthropic's Haiku models,
as Anthropic's prompt-caching documentation publishes) and its recorded cache reads are under
half of it (`LOW_READ_SHARE`): caching is off or misses.

The what-if, per call of a chain with a candidate: cache reads become the repeated part (or
the recorded reads, if more); a call whose prompt the next call resends writes the rest of
its input to the cache (at the cache write price: 1.25x input at Anthropic, the input price
where the provider charges no write, as OpenAI). Calls on a model whose price has no cache
read rate below its input rate (not cache-capable) save nothing and are not listed. Self-
hosted calls (a GPU share, no token price) and embedding calls are left out.
"""

from __future__ import annotations

from warehouse.savings.recorded import CALLS_TABLE, MOVABLE

CACHED_TABLE = "savings_cached"
LOW_READ_SHARE = 0.5
MIN_CACHEABLE = 1024
MIN_CACHEABLE_HAIKU = 2048

_CHAINED = f"""
    SELECT *,
           -- A conversation grows: a call resends the previous prompt only if its own
           -- is at least as long (independent prompts of a job do not chain).
           CASE WHEN input_tokens >= lag(input_tokens) OVER chain
                THEN lag(input_tokens) OVER chain ELSE 0 END AS repeated,
           lead(input_tokens) OVER chain IS NOT NULL AS resent
    FROM {CALLS_TABLE}
    WHERE priced AND price_source <> 'gpu' AND NOT no_usage AND {MOVABLE}
    WINDOW chain AS (
        PARTITION BY coalesce(tenant_id, ''), coalesce(session_id, hex(trace_id)), provider, model
        ORDER BY start_time, span_id
    )
"""

STAGE = f"""
CREATE OR REPLACE TEMP TABLE {CACHED_TABLE} AS
WITH
    chained AS ({_CHAINED}),
    marked AS (
        SELECT *,
            repeated >= CASE WHEN provider = 'anthropic' AND model ILIKE '%haiku%'
                             THEN {MIN_CACHEABLE_HAIKU} ELSE {MIN_CACHEABLE} END
                AND cache_read_tokens < repeated * {LOW_READ_SHARE} AS candidate
        FROM chained
    ),
    chains AS (
        SELECT DISTINCT coalesce(tenant_id, '') AS tenant_key,
               coalesce(session_id, hex(trace_id)) AS chain, provider, model
        FROM marked WHERE candidate
    ),
    cached AS (
        SELECT m.*, greatest(m.cache_read_tokens, m.repeated) AS reads
        FROM marked m
        SEMI JOIN chains c
            ON c.tenant_key = coalesce(m.tenant_id, '')
            AND c.chain = coalesce(m.session_id, hex(m.trace_id))
            AND c.provider = m.provider AND c.model = m.model
    )
SELECT * EXCLUDE (repeated, resent, candidate, reads) REPLACE (
    reads AS cache_read_tokens,
    CASE WHEN resent THEN greatest(input_tokens - reads, 0)
         ELSE least(cache_write_tokens, input_tokens - reads) END AS cache_write_tokens,
    least(cache_write_1h_tokens,
          CASE WHEN resent THEN greatest(input_tokens - reads, 0)
               ELSE least(cache_write_tokens, input_tokens - reads) END)
        AS cache_write_1h_tokens
)
FROM cached
"""

ASSUMPTIONS = (
    "the repeated input is inferred: within a session (else a trace), a call to the same "
    "model with at least as much input resends the previous call's input as its prefix",
    f"a candidate call repeats at least the minimum cacheable prompt ({MIN_CACHEABLE:,} "
    f"tokens; {MIN_CACHEABLE_HAIKU:,} for Anthropic Haiku) and reads under "
    f"{LOW_READ_SHARE:.0%} of it from the cache",
    "a call whose prompt the next call resends writes the rest of its input to the cache, "
    "at the price book's cache write price; every cache read hits",
    "prices are the price book's cache read and write rates at each call's start",
)
