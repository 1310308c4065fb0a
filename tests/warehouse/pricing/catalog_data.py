"""genai-prices data files for tests, made from the bundled data: `bundled_raw()` is the
installed package's catalog in the format genai-prices publishes (`data.json`: a JSON list of
providers, prices as JSON numbers), to modify and write as a newer catalog."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

from genai_prices import data as catalog_data
from genai_prices.types import ModelPrice

_NUMBER = re.compile(r'"__decimal__(-?[0-9.Ee+-]+)"')
_ALIASES = {"or_": "or", "and_": "and"}


def to_raw(value: Any) -> Any:
    """A genai-prices object as the JSON data it is published as (Decimals kept exact)."""
    if isinstance(value, ModelPrice):
        return {k: to_raw(v) for k, v in vars(value).items() if v is not None and k[0] != "_"}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            _ALIASES.get(f.name, f.name): to_raw(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name[0] != "_" and getattr(value, f.name) is not None
        }
    if isinstance(value, list | tuple):
        return [to_raw(item) for item in value]
    if isinstance(value, dict):
        return {key: to_raw(item) for key, item in value.items()}
    if isinstance(value, Decimal):
        return f"__decimal__{value}"
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


def bundled_raw() -> list[dict[str, Any]]:
    return [to_raw(provider) for provider in catalog_data.providers]


def dumps(document: Any) -> bytes:
    """JSON with every price a JSON number, as genai-prices publishes it."""
    return _NUMBER.sub(r"\1", json.dumps(document)).encode()


def provider(document: list[dict[str, Any]], provider_id: str) -> dict[str, Any]:
    return next(p for p in document if p["id"] == provider_id)


def model(document: list[dict[str, Any]], provider_id: str, model_id: str) -> dict[str, Any]:
    return next(m for m in provider(document, provider_id)["models"] if m["id"] == model_id)
