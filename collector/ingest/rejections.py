"""Items an export rejects one by one (spans, outcome log records, data points): how many,
and the reasons of the first few, for the response's partial success.

The message is bounded whatever the request: the first `MAX_REJECTION_MESSAGES` reasons,
each cut at `MAX_REASON_CHARS` characters, then the count of the others. (A 63 MB request
of spans with absurd ids once got a 126 MB answer: each rejected id echoed in hex.)"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

MAX_REJECTION_MESSAGES = 5
MAX_REASON_CHARS = 300
# Bytes of an id shown in a reason: a valid trace id is 16, anything longer is cut.
MAX_ID_BYTES = 16


def item_label(what: str, item_id: bytes) -> str:
    """`what` and the hex of `item_id` (its first `MAX_ID_BYTES` bytes), for a reason."""
    shown = item_id[:MAX_ID_BYTES].hex()
    return f"{what} {shown}..." if len(item_id) > MAX_ID_BYTES else f"{what} {shown}"


class SpanRejected(ValueError):
    """A span that cannot be stored as sent; the message says why (OTLP partial success)."""


class Rejections:
    def __init__(self) -> None:
        self.rejected = 0
        self.messages: list[str] = []

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.messages) < MAX_REJECTION_MESSAGES:
            if len(reason) > MAX_REASON_CHARS:
                reason = reason[: MAX_REASON_CHARS - 3] + "..."
            self.messages.append(reason)

    def unexpected(self, label: str, exc: Exception) -> None:
        """An item whose decoding raised what no rule expects: a bug met with this input.
        The item alone is rejected (its request is not failed: a 500 or gRPC UNKNOWN is not
        retried, so the exporter would drop every item of its batch), and the error is
        logged with its traceback to be fixed."""
        log.error("%s: unexpected %s while decoding, rejected", label, type(exc).__name__,
                  exc_info=exc)  # fmt: skip
        self.reject(f"{label}: cannot be decoded ({type(exc).__name__})")

    @property
    def rejection_message(self) -> str:
        """The first few reasons, in one line, and how many others there were."""
        others = self.rejected - len(self.messages)
        more = f"; and {others} more rejected" if others else ""
        return "; ".join(self.messages) + more
