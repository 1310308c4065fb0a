"""The dashboard's pages, in menu order. A page is one module that defines `PAGE`."""

from __future__ import annotations

from dashboard.page import Page
from dashboard.views import (
    alerts,
    anomalies,
    gate,
    gpu,
    models,
    overview,
    projections,
    reconciliation,
    savings,
    search,
    sessions,
    unit_economics,
    user,
)

PAGES: list[Page] = [
    overview.PAGE,
    unit_economics.PAGE,
    sessions.PAGE,
    search.PAGE,
    user.PAGE,
    models.PAGE,
    savings.PAGE,
    gpu.PAGE,
    anomalies.PAGE,
    projections.PAGE,
    alerts.PAGE,
    reconciliation.PAGE,
    gate.PAGE,
]
