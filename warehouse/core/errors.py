"""One error hierarchy for the domain: each kind says what went wrong, not how to answer it.

The API maps the kinds to HTTP once (`collector.api.deps`): `InvalidRequest` -> 422 (or the
status a subclass names), `NotFound` -> 404, `Conflict` -> 409, `Unavailable` -> 503. The CLI
prints the message and exits 2. Existing domain errors keep their `ValueError` /
`RuntimeError` bases so that callers that catch those still do.
"""

from __future__ import annotations

from collections.abc import Sequence


class SpendscopeError(Exception):
    """The base of every error spendscope raises on purpose."""


class InvalidRequest(SpendscopeError, ValueError):
    """The caller asked for something malformed or contradictory (HTTP 422 by default)."""

    status_code = 422


class InvalidEntries(InvalidRequest):
    """A file or body with bad entries; `errors` names each one (the API lists them all)."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


class NotFound(SpendscopeError, LookupError):
    """What the caller named does not exist, or not in its tenant scope (HTTP 404)."""


class Conflict(SpendscopeError):
    """The request cannot be applied to the current state (HTTP 409)."""


class Unavailable(SpendscopeError, RuntimeError):
    """A dependency is busy or stopped; the caller may retry (HTTP 503)."""
