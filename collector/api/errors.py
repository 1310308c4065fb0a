"""The error answers of `/api/v1`, declared once, so that the OpenAPI document lists every
status code an operation really gives (tests/fuzz/test_api_fuzz.py holds the server to it).

Every error body is `{"detail": ...}`: a message, or for request validation (422) either a
message or FastAPI's list of problems. `COMMON` goes on every API router (401 for a missing
or bad token, 422 for invalid parameters); a route adds the others it raises with `errors`.
The domain errors behind most of them become these answers in one place: `deps`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    detail: str | list[Any] = Field(
        description="What was wrong: a message, or (422) the list of invalid parameters."
    )


DESCRIPTIONS = {
    400: "A body that is not JSON, or parameters that cannot be answered together.",
    401: "Missing or bad bearer token.",
    403: "The token's scope does not allow this (a tenant-scoped token on a shared setting).",
    404: "No such item (or not in the token's tenant).",
    409: "The item changed meanwhile; try again.",
    413: "The body exceeds the size limit.",
    422: "Invalid parameters or body.",
    503: "The writer is busy or stopped; retry after `Retry-After` seconds.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` entries for these status codes."""
    return {code: {"model": ErrorDetail, "description": DESCRIPTIONS[code]} for code in codes}


COMMON = errors(401, 422)
