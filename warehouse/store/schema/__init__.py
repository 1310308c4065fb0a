"""The warehouse schema as SQLAlchemy 2 models.

The tables are created by the hand-written Alembic migrations in `migrations/`, never by
`create_all`; these models are the typed description that queries and tests refer to, and
`tests/warehouse/store/test_migrations.py` checks that the two agree.

Conventions: times are UTC (`TIMESTAMP` holds UTC wall time); token counts are BIGINT;
money is DECIMAL, never float. A span's identity is (trace_id, span_id), both raw bytes.

One module per concern: `base` (the declarative base, naming convention, money types),
`spans`, `pricing`, `outcomes`, `rollups`, `detection`, `alerts`, `gpu`,
`reconciliation` and `gate`. Every model and
table is importable from here, and `Base.metadata` holds them all once this package is imported.
"""

from __future__ import annotations

from warehouse.store.schema.alerts import (
    AlertDelivery,
    AlertIncident,
    AlertMute,
    AlertOutbox,
    AlertPolicyRow,
)
from warehouse.store.schema.base import (
    NAMING_CONVENTION,
    Base,
    Money,
    PricePerMTok,
    ReportedMoney,
    id_key,
)
from warehouse.store.schema.detection import (
    AlertSignal,
    Budget,
    DetectorConfig,
    spend_state,
    spend_state_hours,
    spend_state_series,
)
from warehouse.store.schema.gate import GateRun
from warehouse.store.schema.gpu import (
    gpu_call_costs,
    gpu_config,
    gpu_deployment_hourly,
    gpu_dirty_hours,
    gpu_endpoints,
    gpu_hourly,
    gpu_prices,
    metric_points,
)
from warehouse.store.schema.outcomes import Outcome, OutcomeKeyLink
from warehouse.store.schema.pricing import (
    PRICED_SEQ,
    CallCost,
    PriceKey,
    PriceOverride,
    PricePeriod,
    RepriceRequest,
)
from warehouse.store.schema.reconciliation import BillDay, BillImport, BillLine
from warehouse.store.schema.rollups import (
    rollup_daily,
    rollup_feature_daily,
    rollup_hour_versions,
    rollup_hourly,
    rollup_sessions,
    rollup_traces,
    rollup_users,
)
from warehouse.store.schema.spans import JobAttempt, JobQuarantine, JobState, ModelCall, Span

__all__ = [
    "NAMING_CONVENTION",
    "PRICED_SEQ",
    "AlertDelivery",
    "AlertIncident",
    "AlertMute",
    "AlertOutbox",
    "AlertPolicyRow",
    "AlertSignal",
    "Base",
    "BillDay",
    "BillImport",
    "BillLine",
    "Budget",
    "CallCost",
    "DetectorConfig",
    "GateRun",
    "JobAttempt",
    "JobQuarantine",
    "JobState",
    "ModelCall",
    "Money",
    "Outcome",
    "OutcomeKeyLink",
    "PriceKey",
    "PriceOverride",
    "PricePerMTok",
    "PricePeriod",
    "ReportedMoney",
    "RepriceRequest",
    "Span",
    "gpu_call_costs",
    "gpu_config",
    "gpu_deployment_hourly",
    "gpu_dirty_hours",
    "gpu_endpoints",
    "gpu_hourly",
    "gpu_prices",
    "id_key",
    "metric_points",
    "rollup_daily",
    "rollup_feature_daily",
    "rollup_hour_versions",
    "rollup_hourly",
    "rollup_sessions",
    "rollup_traces",
    "rollup_users",
    "spend_state",
    "spend_state_hours",
    "spend_state_series",
]
