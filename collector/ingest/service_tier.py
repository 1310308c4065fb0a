"""Which service tier served a call, from what its span says of the response and the request.

The response's tier is the served one (OpenAI answers `default` to an `auto` request, and may
serve a `priority` request at the standard tier); the request's stands in only when the span
does not carry the response's, and then the call is flagged when the request asked for a tier
other than the default (`service_tier_from_request`): it is priced by that tier, the most
likely, but the bill may differ. An `auto` or `default` request with no response tier is read
as the default tier unflagged, as a span with no tier at all is.

One emitter's response tier is not the response's on streamed Responses API calls (OpenLIT
1.45 keeps its initial "default" there: `TierRule` "request-when-streamed"): when the request
asked for another tier, the request's is taken, and flagged the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.ingest.conventions import SERVICE_TIERS
from collector.ingest.emitters import TIER_FROM_REQUEST, TIER_UNKNOWN, TierRule

# How a span says it is a streamed Responses API call (OpenLIT: openai.py l.72, 299-301).
STREAM_KEY = "gen_ai.request.stream"
API_TYPE_KEY = "openai.api.type"
RESPONSES_API = "responses"


def _stored(sent: str) -> str | None:
    return SERVICE_TIERS.get(sent.strip().lower())


def streamed_responses_call(attributes: Mapping[str, Any]) -> bool:
    """Whether the span is a streamed Responses API call, as OpenLIT marks one."""
    return attributes.get(STREAM_KEY) is True and attributes.get(API_TYPE_KEY) == RESPONSES_API


def served_tier(
    response: str | None, request: str | None, rule: TierRule = "response", streamed: bool = False
) -> tuple[str | None, list[str]]:
    """The stored tier (`default`, `flex`, `priority`, `batch`, `scale`; None: not said or
    not known) and the `pricing_assumption` codes of the choice."""
    asked = None if request is None else _stored(request)
    if response is not None:
        said = _stored(response)
        placeholder = rule == "request-when-streamed" and streamed and request is not None
        if not (placeholder and asked != said):
            return said, [] if said is not None else [TIER_UNKNOWN]
    if request is None:
        return None, []
    if asked is None:
        return None, [TIER_UNKNOWN]
    return asked, [] if asked == "default" else [TIER_FROM_REQUEST]
