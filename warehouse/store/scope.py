"""Tenant scope: which tenants' data a query may read.

Every read query behind the API takes a `TenantScope` and puts `scope.where(column)` in its
WHERE clause with `scope.params()` among its parameters. The API builds the scope once per
request from the caller's token (`collector.auth`), so a tenant-scoped token can only ever
see rows of its tenant; rows with no tenant belong to no tenant-scoped token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PARAMETER = "scope_tenant_id"


@dataclass(frozen=True, slots=True)
class TenantScope:
    """`tenant_id` None: every tenant (an unscoped token, or an API without tokens)."""

    tenant_id: str | None = None

    @property
    def unscoped(self) -> bool:
        return self.tenant_id is None

    def where(self, column: str) -> str:
        """A SQL condition on `column` (a trusted column expression, never user input)."""
        return "TRUE" if self.tenant_id is None else f"{column} = ${PARAMETER}"

    def params(self) -> dict[str, Any]:
        """The parameters `where` needs (none for every tenant)."""
        return {} if self.tenant_id is None else {PARAMETER: self.tenant_id}


ALL_TENANTS = TenantScope()
