"""The budget check from an agent loop: ask spendscope before each model call (docs/budgets.md).

Standard library only (urllib), so any app can use it without a new dependency:

    from collector.client_budget import BudgetClient, BudgetExceeded

    budget = BudgetClient("http://127.0.0.1:4318", token=None, fail_open=True)
    while not done:
        budget.require(session_id=session, feature="support-agent", tenant="acme")
        ...  # the model call

`require` raises `BudgetExceeded` (with the scope, its spend and limit) when spendscope
denies; `check` returns the `Decision` either way. When spendscope cannot be asked (no
answer within `timeout`, a connection error, a 5xx or 503 while it starts), `fail_open`
decides: True allows the call (the decision says `reachable=False`), False raises
`BudgetUnavailable`. A refused request (401, 403, 422: a wrong token or parameter) always
raises `BudgetCheckError`: a misconfigured guard should be loud, not open.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

log = logging.getLogger(__name__)

PATH = "/api/v1/budget/check"
DEFAULT_URL = "http://127.0.0.1:4318"
DEFAULT_TIMEOUT = 0.5


class BudgetCheckError(Exception):
    """spendscope refused the check itself (a bad token or parameter)."""


class BudgetUnavailable(BudgetCheckError):
    """spendscope could not be asked, and the client fails closed."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reachable: bool  # False: spendscope could not be asked and the client fails open
    reason: str | None = None
    scopes: list[dict[str, Any]] = field(default_factory=list)  # as the API answers them


class BudgetExceeded(Exception):
    """A limit is reached: the loop must stop calling models."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        denied = next(s for s in decision.scopes if s["exceeded"])
        self.scope: str = denied["scope"]  # session, feature, tenant or total
        self.value: str | None = denied["value"]
        self.budget: str | None = denied["budget"]
        self.period: str = denied["period"]
        self.spend_usd = Decimal(denied["spend_usd"]) if denied["spend_usd"] else None
        self.limit_usd = Decimal(denied["limit_usd"])
        super().__init__(
            f"budget exceeded: {decision.reason} (spent ${self.spend_usd}, limit ${self.limit_usd})"
            if self.spend_usd is not None
            else f"budget exceeded: {decision.reason}"
        )


class BudgetClient:
    """Asks `url`'s budget check; `fail_open` is the caller's choice (no default)."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        token: str | None = None,
        *,
        fail_open: bool,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.fail_open = fail_open
        self.timeout = timeout

    def check(
        self,
        *,
        session_id: str | None = None,
        feature: str | None = None,
        tenant: str | None = None,
    ) -> Decision:
        """The decision for a call of this session, feature and tenant."""
        given = {"session_id": session_id, "feature": feature, "tenant": tenant}
        query = urllib.parse.urlencode({k: v for k, v in given.items() if v is not None})
        request = urllib.request.Request(f"{self.url}{PATH}?{query}")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                detail = exc.read().decode("utf-8", "replace")[:500]
                raise BudgetCheckError(f"budget check refused ({exc.code}): {detail}") from None
            return self._unreachable(f"HTTP {exc.code}")
        except (OSError, ValueError) as exc:  # connection refused, timeout, bad body
            return self._unreachable(f"{type(exc).__name__}: {exc}")
        return Decision(body["allowed"], True, body.get("reason"), body.get("scopes", []))

    def require(
        self,
        *,
        session_id: str | None = None,
        feature: str | None = None,
        tenant: str | None = None,
    ) -> Decision:
        """`check`, raising `BudgetExceeded` when denied."""
        decision = self.check(session_id=session_id, feature=feature, tenant=tenant)
        if not decision.allowed:
            raise BudgetExceeded(decision)
        return decision

    def _unreachable(self, why: str) -> Decision:
        if not self.fail_open:
            raise BudgetUnavailable(f"spendscope at {self.url} could not be asked: {why}")
        log.warning("budget check skipped (fail-open): spendscope at %s: %s", self.url, why)
        return Decision(True, False, None, [])
