"""Which catalog is in force, kept in the database (`price_catalogs`) so every process that
prices (the service, `spendscope jobs run`) uses the same one.

No row in force: the catalog bundled with genai-prices. A data file the user supplies (a path,
or fetched from a URL: `collector.api.price_catalog`) is checked (`warehouse.pricing.catalog_file`)
and stored with its text and SHA-256; it stays in force until another is accepted or the
setting is removed. A rejected file is recorded with its errors and changes nothing: the
catalog in force before stays. The price book's fingerprint names the catalog, so a new one
re-prices exactly the price keys whose prices it changes (`warehouse.pricing.keys`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict
from typing import Any, Literal

import duckdb

from warehouse.core.clock import naive_utc, utc
from warehouse.core.rows import fetch_dicts
from warehouse.pricing.catalog import BUNDLED, Catalog, default_catalog
from warehouse.pricing.catalog_file import CatalogData, CatalogFileError, parse_catalog
from warehouse.store.numbering import insert_numbered
from warehouse.store.transaction import transaction

log = logging.getLogger(__name__)

Source = Literal["file", "url"]

IN_FORCE = """
SELECT id, sha256 FROM price_catalogs
WHERE accepted AND retired_at IS NULL ORDER BY id DESC LIMIT 1
"""


class _Parsed:
    """Parsed catalogs by SHA-256 (parsing one takes a second or so; they rarely change)."""

    def __init__(self, size: int = 2) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._catalogs: OrderedDict[str, Catalog] = OrderedDict()

    def get(self, sha256: str) -> Catalog | None:
        with self._lock:
            catalog = self._catalogs.get(sha256)
            if catalog is not None:
                self._catalogs.move_to_end(sha256)
            return catalog

    def put(self, sha256: str, catalog: Catalog) -> None:
        with self._lock:
            self._catalogs[sha256] = catalog
            while len(self._catalogs) > self._size:
                self._catalogs.popitem(last=False)


_PARSED = _Parsed()


def catalog_in_force(cursor: duckdb.DuckDBPyConnection) -> Catalog:
    row = cursor.execute(IN_FORCE).fetchone()
    if row is None:
        return default_catalog()
    catalog_id, sha256 = row
    catalog = _PARSED.get(sha256)
    if catalog is None:
        text = cursor.execute(
            "SELECT data FROM price_catalogs WHERE id = ?", [catalog_id]
        ).fetchone()
        assert text is not None
        try:
            data = parse_catalog(text[0].encode("utf-8"), f"stored catalog #{catalog_id}")
        except CatalogFileError as exc:
            # e.g. a genai-prices upgrade that reads the stored file differently
            log.error("the stored catalog is unusable, the bundled one prices: %s", exc)
            return default_catalog()
        catalog = data.catalog()
        _PARSED.put(sha256, catalog)
    return catalog


def store_catalog(
    cursor: duckdb.DuckDBPyConnection,
    data: CatalogData,
    source: Source,
    location: str,
    modified_at: dt.datetime | None,
    now: dt.datetime,
) -> bool:
    """Put `data` in force (the caller owns the transaction). False when it already is.
    Either way, the rejections recorded before are settled."""
    now = naive_utc(now)
    cursor.execute(
        "UPDATE price_catalogs SET retired_at = ? WHERE NOT accepted AND retired_at IS NULL",
        [now],
    )
    row = cursor.execute(IN_FORCE).fetchone()
    if row is not None and row[1] == data.sha256:
        return False
    cursor.execute(
        "UPDATE price_catalogs SET retired_at = ? WHERE accepted AND retired_at IS NULL", [now]
    )
    insert_numbered(
        cursor,
        "price_catalogs",
        (
            "source",
            "location",
            "accepted",
            "sha256",
            "modified_at",
            "providers",
            "models",
            "data",
            "loaded_at",
        ),
        [
            [
                source,
                location,
                True,
                data.sha256,
                None if modified_at is None else naive_utc(modified_at),
                len(data.providers),
                data.models,
                data.text,
                now,
            ]
        ],
    )
    _PARSED.put(data.sha256, data.catalog())
    return True


def load_catalog(
    cursor: duckdb.DuckDBPyConnection,
    raw: bytes,
    source: Source,
    location: str,
    modified_at: dt.datetime | None,
    now: dt.datetime,
) -> tuple[CatalogData, bool]:
    """Check a data file and put it in force: (data, whether the catalog changed). A bad file
    is recorded and raises CatalogFileError; the catalog in force stays."""
    try:
        data = parse_catalog(raw, location)
    except CatalogFileError as exc:
        with transaction(cursor):
            record_rejection(cursor, source, location, exc.errors, now)
        raise
    with transaction(cursor):
        changed = store_catalog(cursor, data, source, location, modified_at, now)
    return data, changed


def record_rejection(
    cursor: duckdb.DuckDBPyConnection,
    source: Source,
    location: str,
    errors: list[str],
    now: dt.datetime,
) -> None:
    """Remember why a catalog file was refused; the catalog in force is not touched."""
    insert_numbered(
        cursor,
        "price_catalogs",
        ("source", "location", "accepted", "error", "loaded_at"),
        [[source, location, False, "\n".join(errors), naive_utc(now)]],
    )


def use_bundled(cursor: duckdb.DuckDBPyConnection, now: dt.datetime) -> bool:
    """Put the bundled catalog back in force (no catalog setting). False when it was."""
    rows = cursor.execute(
        "SELECT accepted FROM price_catalogs WHERE retired_at IS NULL"
    ).fetchall()  # (not UPDATE ... RETURNING: a lake has none)
    cursor.execute(
        "UPDATE price_catalogs SET retired_at = ? WHERE retired_at IS NULL", [naive_utc(now)]
    )
    return any(accepted for (accepted,) in rows)


def catalog_status(cursor: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The catalog in force (bundled, or a file with its location, date and hash) and the
    errors of a file rejected since it was put in force."""
    rows = fetch_dicts(
        cursor,
        "SELECT id, source, location, sha256, modified_at, loaded_at, providers, models "
        "FROM price_catalogs WHERE accepted AND retired_at IS NULL ORDER BY id DESC LIMIT 1",
    )
    status: dict[str, Any] = {
        "source": "bundled",
        "key": BUNDLED,
        "location": None,
        "sha256": None,
        "modified_at": None,
        "loaded_at": None,
        "providers": None,
        "models": None,
        "rejected": [],
    }
    if rows:
        row = rows[0]
        del row["id"]
        row["modified_at"], row["loaded_at"] = utc(row["modified_at"]), utc(row["loaded_at"])
        status |= row | {"key": f"sha256:{row['sha256']}"}
    rejected = cursor.execute(
        "SELECT error FROM price_catalogs WHERE NOT accepted AND retired_at IS NULL "
        "ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if rejected is not None:
        status["rejected"] = rejected[0].split("\n")
    return status
