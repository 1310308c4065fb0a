"""Bearer-token checks for ingest and the API, in constant time, never logged.

A token is either unscoped (sees every tenant) or scoped to one tenant. On the API, the
caller's token becomes a `TenantScope` once per request (`read_scope`), and every query takes
that scope: a tenant-scoped token can only ever read its tenant's rows. Writes that change
what every tenant sees (prices) need an unscoped token (`full_access`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from warehouse.store.scope import ALL_TENANTS, TenantScope

BEARER = "bearer "


def _digest(token: bytes) -> bytes:
    # Comparing fixed-length digests keeps the comparison's time independent of the length
    # of the tokens as well as of their content.
    return hashlib.sha256(token).digest()


class TokenSet:
    """Accepted tokens for one surface; an empty set means that surface needs no token.

    `tokens` see every tenant; `tenant_tokens` are (tenant, token) pairs.
    """

    def __init__(
        self, tokens: Iterable[str], tenant_tokens: Iterable[tuple[str, str]] = ()
    ) -> None:
        self._entries = [(_digest(t.encode()), ALL_TENANTS) for t in tokens if t]
        self._entries += [
            (_digest(token.encode()), TenantScope(tenant))
            for tenant, token in tenant_tokens
            if token
        ]

    @property
    def required(self) -> bool:
        return bool(self._entries)

    def scope(self, authorization: str | None) -> TenantScope | None:
        """The scope the Authorization header grants; None when it grants nothing."""
        if not self._entries:
            return ALL_TENANTS
        if not authorization or authorization[: len(BEARER)].lower() != BEARER:
            return None
        offered = _digest(authorization[len(BEARER) :].strip().encode())
        # Compare against every token, without stopping at a match, so that the time taken
        # tells nothing about which token (if any) matched.
        granted: TenantScope | None = None
        for digest, scope in self._entries:
            if hmac.compare_digest(offered, digest):
                granted = scope
        return granted

    def allows(self, authorization: str | None) -> bool:
        return self.scope(authorization) is not None


def _unauthorized() -> HTTPException:
    return HTTPException(401, "missing or bad token", headers={"WWW-Authenticate": "Bearer"})


def read_scope(tokens: TokenSet) -> Callable[[Request], TenantScope]:
    """A FastAPI dependency for a router or route: 401 without an accepted token, else the
    caller's tenant scope, also kept for `Scope` parameters of the endpoint."""

    def scope(request: Request) -> TenantScope:
        granted = tokens.scope(request.headers.get("authorization"))
        if granted is None:
            raise _unauthorized()
        request.state.tenant_scope = granted
        return granted

    return scope


def _granted_scope(request: Request) -> TenantScope:
    granted = getattr(request.state, "tenant_scope", None)
    if not isinstance(granted, TenantScope):
        # Fail closed: an endpoint asked for a scope on a route without `read_scope`.
        raise RuntimeError(f"{request.url.path}: no read_scope dependency on this route")
    return granted


# An endpoint parameter: the tenant scope `read_scope` granted (it runs first, as a router or
# route dependency). Every query behind the API takes it.
Scope = Annotated[TenantScope, Depends(_granted_scope)]


def full_access(tokens: TokenSet) -> Callable[[Request], None]:
    """A FastAPI dependency for changes that affect every tenant: 401 without an accepted
    token, 403 for a tenant-scoped one."""

    def check(request: Request) -> None:
        granted = tokens.scope(request.headers.get("authorization"))
        if granted is None:
            raise _unauthorized()
        if not granted.unscoped:
            raise HTTPException(403, "a tenant-scoped token cannot change shared settings")

    return check
