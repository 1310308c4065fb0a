"""The reconciliation's thresholds: typed, with defaults, from the detection file's
`[reconciliation]` table (stored in `detector_config`, read on every detector run)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from warehouse.detection.config import ConfigError, from_mapping

RECONCILIATION = "reconciliation"


@dataclass(frozen=True)
class ReconciliationConfig:
    # A provider x model fires `reconciliation_gap` when its gap over the window is at
    # least both of these (the share is of the billed dollars).
    min_gap_share: Decimal = Decimal("0.02")
    min_gap_usd: Decimal = Decimal("1")
    # The detector looks at the last `window_days` days the bill covers (today excluded:
    # providers finalise a day's figures later).
    window_days: int = 7
    # Token classes whose relative gaps differ by at most this much are one uniform gap
    # (traffic), not a difference in counting.
    uniform_tolerance: Decimal = Decimal("0.02")
    # A row is `matched` below either of these.
    matched_usd: Decimal = Decimal("0.000001")
    matched_share: Decimal = Decimal("0.001")


def reconciliation_config(data: Mapping[str, Any]) -> ReconciliationConfig:
    config = from_mapping(ReconciliationConfig, data, RECONCILIATION)
    if config.window_days < 1:
        raise ConfigError(f"{RECONCILIATION}.window_days: must be at least 1")
    return config


def load_reconciliation_config(cursor: duckdb.DuckDBPyConnection) -> ReconciliationConfig:
    row = cursor.execute(
        "SELECT config FROM detector_config WHERE detector = ?", [RECONCILIATION]
    ).fetchone()
    return reconciliation_config(json.loads(row[0]) if row else {})
