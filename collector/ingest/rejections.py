"""Items an export rejects one by one (spans, outcome log records, data points): how many,
and the reasons of the first few, for the response's partial success."""

from __future__ import annotations

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

    @property
    def rejection_message(self) -> str:
        """The first few reasons, in one line."""
        return "; ".join(self.messages)
