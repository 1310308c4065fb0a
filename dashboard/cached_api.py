"""The API client, with each answer kept for a few seconds across reruns and sessions.

Streamlit reruns the whole page on every click; without a cache each rerun would ask the
API everything again. Errors are not kept: the next rerun asks again.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import streamlit as st

from dashboard.api import ApiClient, Params

CACHE_SECONDS = 15


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False, max_entries=500)
def _get(_api: ApiClient, identity: str, path: str, params: str) -> dict[str, Any]:
    return ApiClient.get(_api, path, json.loads(params))


class CachedApiClient(ApiClient):
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 15.0) -> None:
        super().__init__(base_url, token, timeout)
        # Answers depend on the token (a tenant token sees one tenant): it is in the key.
        fingerprint = hashlib.sha256((token or "").encode()).hexdigest()[:16]
        self.identity = f"{self.base_url}#{fingerprint}"

    def get(self, path: str, params: Params | None = None) -> dict[str, Any]:
        clean = {key: value for key, value in (params or {}).items() if value is not None}
        return _get(self, self.identity, path, json.dumps(clean, sort_keys=True))
