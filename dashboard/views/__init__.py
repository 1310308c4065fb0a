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
    reconciliation,
    sessions,
    unit_economics,
)

PAGES: list[Page] = [
    overview.PAGE,
    unit_economics.PAGE,
    sessions.PAGE,
    models.PAGE,
    gpu.PAGE,
    anomalies.PAGE,
    alerts.PAGE,
    reconciliation.PAGE,
    gate.PAGE,
]
