"""The GPU price book: USD per GPU-hour, by GPU model, node pool or deployment.

From the price file's `gpu_prices` list (docs/gpu.md), next to the token prices:

    [[gpu_prices]]
    gpu_model = "NVIDIA H100*"        # or node_pool = "..." or deployment = "..." (one)
    pricing = "on_demand"             # on_demand | reserved | owned
    usd_per_gpu_hour = "4.10"         # on_demand and reserved
    effective_from = 2026-01-01       # optional: all history if absent

    [[gpu_prices]]
    node_pool = "a100-owned"
    pricing = "owned"
    purchase_usd = "15000"            # owned: amortized over amortization_months
    amortization_months = 36
    operating_usd_per_gpu_hour = "0.40"   # optional: power, hosting, support

An owned GPU costs purchase_usd / (amortization_months x 730 h) + operating per hour,
rounded to nano-dollars. Match values are case-insensitive globs (`*`, `?`).

Which price a GPU-hour gets (`PRICE_OF_GPU_HOUR`): of the prices in effect at the start of
the hour, a deployment price beats a node-pool price beats a GPU-model price; among those
of one scope, the latest `effective_from`, then the highest id. A GPU-hour no price covers
is *unpriced*: counted and shown, never $0.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import duckdb

from warehouse.config.file_rows import sync_file_rows
from warehouse.config.price_file import (
    PriceFileError,
    check_fields,
    effective_from_and_note,
    parse_price,
    read_document,
)
from warehouse.core.clock import naive_utc
from warehouse.core.rows import fetch_dicts
from warehouse.pricing.pricebook import SINCE_ALWAYS
from warehouse.store.numbering import insert_numbered

SCOPES = ("deployment", "node_pool", "gpu_model")  # precedence, highest first
PRICINGS = ("on_demand", "reserved", "owned")
HOURS_PER_MONTH = 730
NANO = Decimal("0.000000001")
_FIELDS = {
    *SCOPES, "pricing", "usd_per_gpu_hour", "purchase_usd", "amortization_months",
    "operating_usd_per_gpu_hour", "effective_from", "note",
}  # fmt: skip


@dataclass(frozen=True)
class GpuPrice:
    scope: str
    match: str
    pricing: str
    usd_per_gpu_hour: Decimal
    purchase_usd: Decimal | None = None
    amortization_months: int | None = None
    effective_from: dt.datetime = SINCE_ALWAYS
    note: str | None = None

    def identity(self) -> tuple[object, ...]:
        return (
            self.scope, self.match, self.pricing, self.usd_per_gpu_hour, self.purchase_usd,
            self.amortization_months, self.effective_from, self.note,
        )  # fmt: skip


def owned_hourly(purchase: Decimal, months: int, operating: Decimal) -> Decimal:
    """An owned GPU's cost per hour: amortization plus operating cost, in nano-dollars."""
    return (purchase / (months * HOURS_PER_MONTH) + operating).quantize(NANO, ROUND_HALF_EVEN)


def _nano_price(value: object) -> Decimal:
    price = parse_price(value)
    if price != price.quantize(NANO):
        raise ValueError(f"has more than 9 decimal places: {value!r}")
    return price


def parse_gpu_price(entry: Mapping[str, Any], where: str) -> GpuPrice:
    """Validate one GPU price entry; errors name `where` and the field."""
    errors = check_fields(entry, where, _FIELDS)
    scopes = [scope for scope in SCOPES if scope in entry]
    if len(scopes) != 1:
        errors.append(f"{where}: give exactly one of {', '.join(SCOPES)}")
        scope, match = "", ""
    else:
        scope = scopes[0]
        value = entry[scope]
        match = value.strip() if isinstance(value, str) else ""
        if not match:
            errors.append(f"{where}: {scope}: must be a non-empty string")
    pricing = entry.get("pricing", "on_demand")
    if pricing not in PRICINGS:
        errors.append(f"{where}: pricing: must be one of {', '.join(PRICINGS)}, got {pricing!r}")

    def price(name: str) -> Decimal | None:
        if entry.get(name) is None:
            return None
        try:
            return _nano_price(entry[name])
        except ValueError as exc:
            errors.append(f"{where}: {name}: {exc}")
            return None

    hourly, purchase = price("usd_per_gpu_hour"), price("purchase_usd")
    operating = price("operating_usd_per_gpu_hour") or Decimal(0)
    months = entry.get("amortization_months")
    if pricing == "owned":
        if purchase is None or "usd_per_gpu_hour" in entry:
            errors.append(f"{where}: owned: give purchase_usd (not usd_per_gpu_hour)")
        if isinstance(months, bool) or not isinstance(months, int) or months < 1:
            errors.append(f"{where}: amortization_months: required for owned, a whole number > 0")
    elif hourly is None or purchase is not None or months is not None:
        errors.append(f"{where}: {pricing}: give usd_per_gpu_hour (not purchase_usd)")
    effective_from, note = effective_from_and_note(entry, where, errors)
    if errors:
        raise PriceFileError(errors)
    if pricing == "owned":
        assert purchase is not None and isinstance(months, int)
        hourly = owned_hourly(purchase, months, operating)
    else:
        assert hourly is not None
        hourly += operating
    return GpuPrice(
        scope, match, pricing, hourly, purchase, months if pricing == "owned" else None,
        effective_from, note,
    )  # fmt: skip


def load_gpu_prices(path: Path) -> list[GpuPrice]:
    """The `gpu_prices` entries of a price file, validated."""
    entries = read_document(path).get("gpu_prices", [])
    if not isinstance(entries, list):
        raise PriceFileError([f"{path}: `gpu_prices` must be a list of entries"])
    errors: list[str] = []
    prices: list[GpuPrice] = []
    for index, entry in enumerate(entries, start=1):
        try:
            prices.append(parse_gpu_price(entry, f"{path}: gpu price #{index}"))
        except PriceFileError as exc:
            errors.extend(exc.errors)
    if errors:
        raise PriceFileError(errors)
    return prices


_COLUMNS = (
    "scope", "match", "pricing", "usd_per_gpu_hour", "purchase_usd", "amortization_months",
    "effective_from", "note",
)  # fmt: skip


def add_gpu_price(
    cursor: duckdb.DuckDBPyConnection, price: GpuPrice, source: str, now: dt.datetime
) -> int:
    (new_id,) = insert_numbered(
        cursor,
        "gpu_prices",
        (*_COLUMNS, "source", "created_at"),
        [[*price.identity(), source, naive_utc(now)]],
    )
    return new_id


def sync_file_gpu_prices(
    cursor: duckdb.DuckDBPyConnection, prices: Iterable[GpuPrice], now: dt.datetime
) -> tuple[int, int]:
    """Make the stored file GPU prices equal to the file's entries, keeping the rows of
    unchanged entries. Returns (added, removed)."""
    stored = {
        GpuPrice(*row[1:]).identity(): row[0]
        for row in cursor.execute(
            f"SELECT id, {', '.join(_COLUMNS)} FROM gpu_prices WHERE source = 'file'"
        ).fetchall()
    }
    return sync_file_rows(
        cursor,
        "gpu_prices",
        stored,
        {price.identity(): price for price in prices},
        lambda price: add_gpu_price(cursor, price, "file", now),
    )


def list_gpu_prices(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return fetch_dicts(
        cursor, f"SELECT id, {', '.join(_COLUMNS)}, source, created_at FROM gpu_prices ORDER BY id"
    )


def fingerprint(cursor: duckdb.DuckDBPyConnection) -> str:
    """Changes whenever a GPU price is added, changed or removed."""
    rows = cursor.execute(f"SELECT id, {', '.join(_COLUMNS)} FROM gpu_prices ORDER BY id")
    return hashlib.sha256(repr(rows.fetchall()).encode()).hexdigest()


# The price of each row of the temp table `gpu_hours` (hour, deployment, node_pool,
# gpu_model): `price_id` and `usd_per_gpu_hour`, NULL when no price covers it.
PRICE_OF_GPU_HOUR = """
SELECT h.hour, h.deployment, h.node_pool, h.gpu_model,
       arg_max(p.id, (CASE p.scope WHEN 'deployment' THEN 3 WHEN 'node_pool' THEN 2 ELSE 1 END,
                      p.effective_from, p.id)) AS price_id,
       arg_max(p.usd_per_gpu_hour,
               (CASE p.scope WHEN 'deployment' THEN 3 WHEN 'node_pool' THEN 2 ELSE 1 END,
                p.effective_from, p.id)) AS usd_per_gpu_hour
FROM (SELECT DISTINCT hour, deployment, node_pool, gpu_model FROM gpu_hours) h
JOIN gpu_prices p
  ON p.effective_from <= h.hour
 AND lower(CASE p.scope WHEN 'deployment' THEN h.deployment
                        WHEN 'node_pool' THEN h.node_pool ELSE h.gpu_model END)
     GLOB lower(p.match)
GROUP BY ALL
"""
