"""The warehouse brought in line with the user's configuration files, and the price changes
the API makes: the price file, the detection file, price overrides added and deleted.

Each operation owns its transaction and returns what it did (a dataclass, or the id of what it
added); input that cannot be used raises the domain's errors (`PriceFileError`,
`DetectionFileError`, `NotFound`, `Conflict`), changing nothing. The API and the CLI only
translate: `collector.api.deps` maps the errors to HTTP once.

The price file's `gpu_prices` belong to `warehouse.gpu`, a layer above this package (it
imports the price file's parsing): the caller passes that module in, as a `GpuPriceFile`, so
that one transaction syncs both halves of the file. The GPU settings and the alert policy are
single upserts their own packages already offer (`gpu.config.store_config`,
`incidents.policy.store_policy`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
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


class GpuPriceFile(Protocol):
    """The `gpu_prices` half of the price file: the module `warehouse.gpu.prices`."""

    def load_gpu_prices(self, path: Path) -> Sequence[Any]:
        """The file's GPU price entries, validated (PriceFileError naming every bad one)."""
        ...

    def sync_file_gpu_prices(
        self, cursor: duckdb.DuckDBPyConnection, prices: Iterable[Any], now: dt.datetime
    ) -> tuple[int, int]:
        """Make the stored file GPU prices the file's (in the caller's transaction)."""
        ...


def sync_price_file(
    cursor: duckdb.DuckDBPyConnection, data_dir: Path, gpu_prices: GpuPriceFile
) -> PriceFileSync:
    """Load `<data_dir>/prices.toml|yaml` into the price book (file overrides and file GPU
    prices become exactly the file's entries). Raises PriceFileError, changing nothing, when
    the file is invalid."""
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
    cursor: duckdb.DuckDBPyConnection,
    data_dir: Path,
    gpu_prices: GpuPriceFile,
    listener: PriceFileListener,
) -> PriceFileSync:
    """`sync_price_file`, telling `listener` whether the file was loaded or rejected; a
    rejected file still raises its PriceFileError."""
    try:
        synced = sync_price_file(cursor, data_dir, gpu_prices)
    except PriceFileError as exc:
        listener.rejected(find_price_file(data_dir), exc.errors)
        raise
    listener.loaded()
    return synced


def load_price_file_reporting(
    cursor: duckdb.DuckDBPyConnection,
    data_dir: Path,
    gpu_prices: GpuPriceFile,
    listener: PriceFileListener,
) -> PriceFileSync | None:
    """`reload_price_file` at start: a rejected file is only reported (None), and the prices
    loaded before stay in force."""
    try:
        return reload_price_file(cursor, data_dir, gpu_prices, listener)
    except PriceFileError:
        return None


# ---- the detection file --------------------------------------------------------------------


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
