"""The warehouse brought in line with the user's configuration, and the changes the API makes
to it: the price file, the detection file, the GPU settings, the alert policy, price
overrides and GPU prices.

Each operation owns its transaction and returns what it did (a dataclass, or the id of what it
added); input that cannot be used raises the domain's errors (`PriceFileError`,
`DetectionFileError`, `NotFound`, `Conflict`), changing nothing. The API and the CLI only
translate: `collector.api.deps` maps the errors to HTTP once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb

from warehouse.config import detection_file
from warehouse.config.price_file import (
    PriceFileError,
    find_price_file,
    load_price_file,
    parse_override,
)
from warehouse.core.errors import Conflict, NotFound
from warehouse.gpu import config as gpu_config
from warehouse.gpu import prices as gpu_prices
from warehouse.incidents.policy import AlertPolicy, store_policy
from warehouse.pricing import job as pricing
from warehouse.store.transaction import transaction

log = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ---- the price file ------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceFileSync:
    """What a load of the price file changed (nothing when it had no changes)."""

    path: Path | None  # the file read; None when the data directory has none
    added: int
    removed: int
    gpu_added: int
    gpu_removed: int


class PriceFileListener(Protocol):
    """Told how each load of the price file went (the service's `PriceFileStatus`)."""

    def loaded(self) -> None: ...

    def rejected(self, path: Path | None, errors: list[str]) -> None: ...


def sync_price_file(cursor: duckdb.DuckDBPyConnection, data_dir: Path) -> PriceFileSync:
    """Load `<data_dir>/prices.toml|yaml` into the price book (file overrides become exactly
    the file's entries). Raises PriceFileError, changing nothing, when the file is invalid."""
    path = find_price_file(data_dir)
    overrides = load_price_file(path) if path is not None else []
    gpu = gpu_prices.load_gpu_prices(path) if path is not None else []
    with transaction(cursor):
        now = _now()
        added, removed = pricing.sync_file_overrides(cursor, overrides, now)
        gpu_added, gpu_removed = gpu_prices.sync_file_gpu_prices(cursor, gpu, now)
    if added or removed:
        log.info("price file %s: %d prices added, %d removed", path, added, removed)
    if gpu_added or gpu_removed:
        log.info("price file %s: %d GPU prices added, %d removed", path, gpu_added, gpu_removed)
    return PriceFileSync(path, added, removed, gpu_added, gpu_removed)


def reload_price_file(
    cursor: duckdb.DuckDBPyConnection, data_dir: Path, listener: PriceFileListener
) -> PriceFileSync:
    """`sync_price_file`, telling `listener` whether the file was loaded or rejected; a
    rejected file still raises its PriceFileError."""
    try:
        synced = sync_price_file(cursor, data_dir)
    except PriceFileError as exc:
        listener.rejected(find_price_file(data_dir), exc.errors)
        raise
    listener.loaded()
    return synced


def load_price_file_reporting(
    cursor: duckdb.DuckDBPyConnection, data_dir: Path, listener: PriceFileListener
) -> PriceFileSync | None:
    """`reload_price_file` at start: a rejected file is only reported (None), and the prices
    loaded before stay in force."""
    try:
        return reload_price_file(cursor, data_dir, listener)
    except PriceFileError:
        return None


# ---- the detection file, the GPU settings, the alert policy -------------------------------


@dataclass(frozen=True)
class DetectionFileSync:
    path: Path | None  # the file read; None when the data directory has none
    budgets: int


def sync_detection_file(cursor: duckdb.DuckDBPyConnection, data_dir: Path) -> DetectionFileSync:
    """Load `<data_dir>/detection.toml` into the budgets and detector thresholds. Raises
    DetectionFileError, changing nothing, when the file is invalid."""
    loaded = detection_file.load(data_dir)
    with transaction(cursor):
        detection_file.store(cursor, loaded, _now())
    if loaded.path is not None:
        log.info("detection file %s: %d budgets", loaded.path, len(loaded.budgets))
    return DetectionFileSync(loaded.path, len(loaded.budgets))


def store_gpu_config(
    cursor: duckdb.DuckDBPyConnection, config: gpu_config.GpuConfig
) -> gpu_config.GpuConfig:
    """Give the jobs the GPU settings (`warehouse.gpu.config`); returns what was stored."""
    with transaction(cursor):
        gpu_config.store_config(cursor, config)
    return config


def store_alert_policy(cursor: duckdb.DuckDBPyConnection, policy: AlertPolicy) -> AlertPolicy:
    """Make `policy` the one the lifecycle job applies (at start, before the jobs run)."""
    with transaction(cursor):
        store_policy(cursor, policy, _now())
    return policy


# ---- prices added and deleted through the API -----------------------------------------------


def add_price_override(cursor: duckdb.DuckDBPyConnection, entry: Mapping[str, Any]) -> int:
    """Add an override (an entry as in the price file; PriceFileError lists every problem);
    the next pricing run re-prices what it affects. Returns its id."""
    override = parse_override(entry, "price")
    with transaction(cursor):
        return pricing.add_override(cursor, override, "api", _now())


def delete_price_override(cursor: duckdb.DuckDBPyConnection, override_id: int) -> None:
    """Delete an override added through the API; NotFound when there is none, Conflict when
    it comes from the price file (the file is the place to change it)."""
    with transaction(cursor):
        row = cursor.execute(
            "SELECT source FROM price_overrides WHERE id = ?", [override_id]
        ).fetchone()
        if row is None:
            raise NotFound(f"no price override {override_id}")
        if row[0] == "file":
            raise Conflict("this price comes from the price file: edit the file and reload")
        pricing.delete_override(cursor, override_id)


def add_gpu_price(cursor: duckdb.DuckDBPyConnection, entry: Mapping[str, Any]) -> int:
    """Add a GPU-hour price (fields as in the price file's `gpu_prices`; PriceFileError lists
    every problem). Returns its id."""
    price = gpu_prices.parse_gpu_price(entry, "gpu price")
    with transaction(cursor):
        return gpu_prices.add_gpu_price(cursor, price, "api", _now())
