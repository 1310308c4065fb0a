"""The OpenAI and Anthropic admin APIs, paged through and retried.

OpenAI: `GET /v1/organization/usage/completions` and `GET /v1/organization/costs` with an
admin key (`Authorization: Bearer`), daily buckets grouped by model, project and API key
(usage) and by line item and project (costs), `start_time`/`end_time` in Unix seconds.
Anthropic: `GET /v1/organizations/usage_report/messages` and
`GET /v1/organizations/cost_report` with an admin key (`x-api-key`, `anthropic-version`),
daily buckets grouped by model, workspace, API key, service tier and context window (usage)
and by workspace and description (costs), `starting_at`/`ending_at` in RFC 3339. Both
answer pages with `has_more` and `next_page`, sent back as `page`.

Retries follow the alert channels' rule (`collector.alerting.dispatcher`): only 429, 5xx and
connection errors or timeouts, after the longer of an exponential backoff with jitter and
the server's `Retry-After`, until `deadline_seconds` have passed; any other answer (401,
403, 400, ...) fails at once. The admin key is never logged nor put in an error.

`pull` returns the bundle `warehouse.reconciliation.formats` imports: `{"source", "usage":
[pages], "costs": [pages]}`, the pages as the API sent them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import httpx

from collector.alerting.dispatcher import backoff, retry_after

log = logging.getLogger(__name__)

Source = Literal["openai", "anthropic"]
BASE_URLS: Mapping[str, str] = {
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
}
ANTHROPIC_VERSION = "2023-06-01"
MAX_PAGES = 10_000


class PullError(RuntimeError):
    """The admin API refused, or kept failing until the deadline; the message says how."""


@dataclass(frozen=True)
class Report:
    path: str
    params: list[tuple[str, str]]


def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def reports(source: Source, start: dt.date, end: dt.date) -> dict[str, Report]:
    """The two requests (usage, costs) for the days [start, end)."""
    days = str(min(31, max(1, (end - start).days)))
    if source == "openai":
        window = [
            ("start_time", str(int(_utc(start).timestamp()))),
            ("end_time", str(int(_utc(end).timestamp()))),
            ("bucket_width", "1d"),
            ("limit", days),
        ]
        usage = [("group_by", g) for g in ("model", "project_id", "api_key_id", "batch")]
        costs = [("group_by", g) for g in ("line_item", "project_id")]
        return {
            "usage": Report("/v1/organization/usage/completions", window + usage),
            "costs": Report("/v1/organization/costs", window + costs),
        }
    window = [
        ("starting_at", _utc(start).strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("ending_at", _utc(end).strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("bucket_width", "1d"),
        ("limit", days),
    ]
    groups = ("model", "workspace_id", "api_key_id", "service_tier", "context_window")
    usage = [("group_by[]", g) for g in groups]
    costs = [("group_by[]", g) for g in ("workspace_id", "description")]
    return {
        "usage": Report("/v1/organizations/usage_report/messages", window + usage),
        "costs": Report("/v1/organizations/cost_report", window + costs),
    }


def headers(source: Source, key: str) -> dict[str, str]:
    if source == "openai":
        return {"Authorization": f"Bearer {key}"}
    return {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}


@dataclass
class Retrying:
    """GETs retried on 429, 5xx and connection errors within a deadline."""

    client: httpx.Client
    deadline_seconds: float = 300.0
    initial_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    stop: threading.Event = field(default_factory=threading.Event)
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic
    attempts: int = 0

    def get(self, path: str, params: list[tuple[str, str]]) -> httpx.Response:
        give_up = self.clock() + self.deadline_seconds
        retry = 0
        while True:
            self.attempts += 1
            wait: float | None = None
            try:
                response = self.client.get(path, params=tuple(params))
                if response.status_code < 400:
                    return response
                if response.status_code != 429 and response.status_code < 500:
                    raise PullError(f"GET {path}: {response.status_code} {_brief(response)}")
                problem = f"{response.status_code} {_brief(response)}"
                wait = retry_after(response, dt.datetime.now(dt.UTC))
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            retry += 1
            delay = max(
                wait or 0.0,
                backoff(retry, self.initial_backoff_seconds, self.max_backoff_seconds, self.rng),
            )
            if self.clock() + delay > give_up:
                raise PullError(f"GET {path}: still failing after {retry} attempt(s): {problem}")
            log.info("GET %s: %s; retrying in %.1f s", path, problem, delay)
            if self.stop.wait(delay):
                raise PullError(f"GET {path}: stopped while waiting to retry ({problem})")


def _brief(response: httpx.Response) -> str:
    """The error's own message when the body is JSON, else its first 200 characters."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:200]
    return json.dumps(body)[:200]


def pages(session: Retrying, report: Report) -> list[Any]:
    """Every page of one report, following `next_page` while `has_more`."""
    found: list[Any] = []
    cursor: str | None = None
    while len(found) < MAX_PAGES:
        params = report.params + ([("page", cursor)] if cursor else [])
        response = session.get(report.path, params)
        try:
            page = json.loads(response.text, parse_float=Decimal)
        except ValueError:
            raise PullError(f"GET {report.path}: the answer is not JSON") from None
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise PullError(f"GET {report.path}: the answer is not a report page")
        found.append(page)
        cursor = page.get("next_page")
        if not page.get("has_more") or not cursor:
            return found
    raise PullError(f"GET {report.path}: more than {MAX_PAGES} pages")


def pull(
    source: Source,
    key: str,
    start: dt.date,
    end: dt.date,
    *,
    base_url: str | None = None,
    timeout_seconds: float = 30.0,
    deadline_seconds: float = 300.0,
    initial_backoff_seconds: float = 1.0,
    max_backoff_seconds: float = 60.0,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """The usage and cost reports of the days [start, end) as one bundle."""
    if end <= start:
        raise PullError(f"nothing to pull: end {end} is not after start {start}")
    with httpx.Client(
        base_url=(base_url or BASE_URLS[source]).rstrip("/"),
        headers=headers(source, key),
        timeout=timeout_seconds,
    ) as client:
        session = Retrying(
            client, deadline_seconds, initial_backoff_seconds, max_backoff_seconds,
            stop or threading.Event(),
        )  # fmt: skip
        bundle: dict[str, Any] = {"source": source}
        for part, report in reports(source, start, end).items():
            bundle[part] = pages(session, report)
    return bundle
