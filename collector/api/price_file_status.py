"""The price file's last load: loaded, or rejected with the errors that name each bad entry.

A rejected file changes nothing: the prices loaded before stay in force and ingest goes on.
The service starts anyway (refusing to start would stop ingest over a typo in a price), and
says what is wrong in `/readyz` (a warning, still ready: spans are taken and stored) and in
`GET /api/v1/prices` (`file_errors`) until a fixed file is reloaded.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class PriceFileStatus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors: list[str] = []

    @property
    def errors(self) -> list[str]:
        with self._lock:
            return list(self._errors)

    def loaded(self) -> None:
        with self._lock:
            self._errors = []

    def rejected(self, path: Path | None, errors: list[str]) -> None:
        for error in errors:
            log.error("%s", error)
        log.error(
            "price file %s rejected: the prices loaded before stay in force until it is "
            "fixed and reloaded (POST /api/v1/prices/reload or a restart)",
            path,
        )
        with self._lock:
            self._errors = list(errors)
