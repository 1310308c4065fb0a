"""Bearer-token checks for ingest and the API, in constant time, never logged."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

BEARER = "bearer "


class TokenSet:
    """Accepted tokens for one surface; an empty set means that surface needs no token."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = [t.encode() for t in tokens if t]

    @property
    def required(self) -> bool:
        return bool(self._tokens)

    def allows(self, authorization: str | None) -> bool:
        if not self._tokens:
            return True
        if not authorization or authorization[: len(BEARER)].lower() != BEARER:
            return False
        offered = authorization[len(BEARER) :].strip().encode()
        # Compare against every token so the time taken does not tell which one matched.
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(offered, token)
        return matched
