"""Time to first token: read from the attribute an instrumentation set, bounded by its span.

Streaming instrumentations measure how long a call took to its first chunk and put it on
the span: the OTel GenAI `gen_ai.response.time_to_first_chunk` (seconds, semconv v1.41),
OpenLIT's `gen_ai.server.time_to_first_token` (seconds), vLLM's request spans
`gen_ai.latency.time_to_first_token` (seconds), the Vercel AI SDK's
`ai.response.msToFirstChunk` (`ai.stream.msToFirstChunk` before v4; milliseconds). The keys
are `conventions.CONCEPT_KEYS[TIME_TO_FIRST_TOKEN]`, first present wins; the value is stored
in milliseconds (`spans.time_to_first_token_ms`) and the attribute is kept in `attributes` as
sent. A value that cannot be a time to first token of its span (not a number, not finite,
negative, or longer than the span) is not stored: `FirstTokenBounds` counts it, and the
request logs a warning naming the first one.
"""

from __future__ import annotations

import logging
import math

from collector.ingest.conventions import FIRST_TOKEN_MS_KEYS, TIME_TO_FIRST_TOKEN, Found
from collector.ingest.rejections import item_label

log = logging.getLogger(__name__)

# A time to first token may exceed the span's duration by this much (clock rounding: the
# span's times are microseconds in storage, the instrumentation measures with its own clock).
TOLERANCE_MS = 1.0
INVALID = math.nan  # what `first_token_ms` returns for a value that is not a number


def first_token_ms(found: Found) -> float | None:
    """The span's time to first token in milliseconds as sent (unchecked: `NaN` when the
    winning value is not a number), None when the span has none."""
    hit = found.get(TIME_TO_FIRST_TOKEN)
    if hit is None:
        return None
    _, key, value = hit
    if isinstance(value, bool):
        return INVALID
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return INVALID
    if not isinstance(value, int | float):
        return INVALID
    return float(value) if key in FIRST_TOKEN_MS_KEYS else float(value) * 1000.0


class FirstTokenBounds:
    """Checks each span's time to first token against its duration; counts the dropped."""

    def __init__(self) -> None:
        self.dropped = 0
        self.first: str | None = None

    def check(
        self, value: float | None, start_ns: int, end_ns: int, span_id: bytes
    ) -> float | None:
        """`value` when it fits in its span, else None (counted, the first one described)."""
        if value is None:
            return None
        duration_ms = max(end_ns - start_ns, 0) / 1e6
        if math.isfinite(value) and 0.0 <= value <= duration_ms + TOLERANCE_MS:
            return value
        self.dropped += 1
        if self.first is None:
            shown = "not a number" if math.isnan(value) else f"{value:g} ms"
            label = item_label("span", span_id)
            self.first = f"{label}: time to first token {shown}, span {duration_ms:g} ms"
        return None

    def report(self, what: str = "request") -> None:
        """Log the dropped values of one request, if any (once per request)."""
        if self.dropped:
            log.warning(
                "%d time-to-first-token value(s) in one %s could not be times to the first "
                "token of their span (not a number, negative, or longer than the span) and "
                "were not stored; the attribute is kept as sent. First: %s",
                self.dropped,
                what,
                self.first,
            )
