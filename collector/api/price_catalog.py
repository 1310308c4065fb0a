"""The genai-prices catalog the user supplies (`SPENDSCOPE_CATALOG_FILE` or, opt-in,
`SPENDSCOPE_CATALOG_URL`), put in force and kept current.

A file is read when the service starts and again whenever it changes (checked every
`catalog_refresh_seconds`); a URL is fetched in the background at start and at that interval,
with a timeout, never at import. Each copy is checked and stored by
`warehouse.pricing.catalog_store`: a bad one (or a failed fetch) is recorded with what is
wrong and logged, and the catalog in force before stays. With neither setting, the bundled
catalog is put back in force. The pricing job notices the new catalog by its fingerprint and
re-prices exactly what it changes.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import threading
from pathlib import Path

import httpx

from collector.settings import Settings
from warehouse.pricing.catalog_file import CatalogFileError
from warehouse.pricing.catalog_store import Source, load_catalog, record_rejection, use_bundled
from warehouse.store.database import Database
from warehouse.store.transaction import transaction

log = logging.getLogger(__name__)

MAX_CATALOG_BYTES = 64 * 1024 * 1024  # the published data.json is under 2 MB


class CatalogFetchError(RuntimeError):
    """The catalog URL could not be fetched (network, HTTP status, size)."""


def fetch_catalog(url: str, timeout_seconds: float) -> tuple[bytes, dt.datetime | None]:
    """The data file at `url` and its Last-Modified time, if the server sent one."""
    try:
        with (
            httpx.Client(timeout=timeout_seconds, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            response.raise_for_status()
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_CATALOG_BYTES:
                    raise CatalogFetchError(f"{url}: larger than {MAX_CATALOG_BYTES} bytes")
                chunks.append(chunk)
            modified = response.headers.get("last-modified")
    except httpx.HTTPError as exc:
        raise CatalogFetchError(f"{url}: fetch failed: {exc}") from exc
    try:
        modified_at = email.utils.parsedate_to_datetime(modified) if modified else None
    except (TypeError, ValueError):
        modified_at = None
    return b"".join(chunks), modified_at


class CatalogSource:
    """Loads the configured catalog into the database, once or on a background thread."""

    def __init__(
        self,
        database: Database,
        file: Path | None = None,
        url: str | None = None,
        refresh_seconds: float = 3600.0,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.database = database
        self.file = file
        self.url = url
        self.refresh_seconds = refresh_seconds
        self.timeout_seconds = timeout_seconds
        self._seen: tuple[float, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, database: Database, settings: Settings) -> CatalogSource:
        return cls(
            database,
            settings.catalog_file,
            settings.catalog_url,
            settings.catalog_refresh_seconds,
            settings.catalog_fetch_timeout_seconds,
        )

    def load(self) -> bool:
        """One attempt; True when the catalog in force changed. Problems are recorded and
        logged, never raised: the catalog in force before stays."""
        now = dt.datetime.now(dt.UTC)
        cursor = self.database.cursor()
        try:
            if self.file is None and self.url is None:
                with transaction(cursor):
                    changed = use_bundled(cursor, now)
                if changed:
                    log.info("price catalog: the bundled genai-prices data is in force again")
                return changed
            source: Source = "file" if self.file else "url"
            location = str(self.file or self.url)
            try:
                raw, modified_at = self._read()
                if raw is None:
                    return False  # the file did not change
                data, changed = load_catalog(cursor, raw, source, location, modified_at, now)
            except (OSError, CatalogFetchError) as exc:
                message = f"{location}: cannot read ({exc})" if source == "file" else str(exc)
                with transaction(cursor):
                    record_rejection(cursor, source, location, [message], now)
                log.error("price catalog %s refused, the catalog in force stays: %s", location, exc)
                return False
            except CatalogFileError as exc:
                for error in exc.errors:
                    log.error("%s", error)
                log.error("price catalog %s refused: the catalog in force stays", location)
                return False
        finally:
            cursor.close()
        if changed:
            log.info(
                "price catalog %s in force: %d providers, %d models (sha256 %s)",
                location,
                len(data.providers),
                data.models,
                data.sha256[:12],
            )
        return changed

    def _read(self) -> tuple[bytes | None, dt.datetime | None]:
        if self.file is None:
            assert self.url is not None
            return fetch_catalog(self.url, self.timeout_seconds)
        stat = self.file.stat()
        seen = (stat.st_mtime, stat.st_size)
        if seen == self._seen:
            return None, None
        raw = self.file.read_bytes()
        self._seen = seen
        return raw, dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC)

    def start(self) -> None:
        """Load a file (or the bundled catalog) now; fetch a URL and re-check on a thread."""
        if self.url is None:
            self.load()
            if self.file is None:
                return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="price-catalog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self.url is not None:
            self._load_logged()
        while not self._stop.wait(self.refresh_seconds):
            self._load_logged()

    def _load_logged(self) -> None:
        try:
            self.load()
        except Exception:  # a loop boundary: log and try again at the next interval
            log.exception("price catalog: loading failed")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
