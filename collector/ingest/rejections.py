"""Items an export rejects one by one (spans, outcome log records, data points): how many,
and the reasons of the first few, for the response's partial success."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

MAX_REJECTION_MESSAGES = 5


class SpanRejected(ValueError):
    """A span that cannot be stored as sent; the message says why (OTLP partial success)."""


class Rejections:
    def __init__(self) -> None:
        self.rejected = 0
        self.messages: list[str] = []

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.messages) < MAX_REJECTION_MESSAGES:
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
        """The first few reasons, in one line."""
        return "; ".join(self.messages)
