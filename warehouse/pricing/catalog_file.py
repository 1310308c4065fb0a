"""A genai-prices data file the user supplies: parsed and checked before it can price anything.

The formats genai-prices publishes: `data.json` (what `UpdatePrices` fetches: a JSON list of
providers) and the snapshot format (an object whose `providers` holds that list; its `units`
are the installed package's). Providers are validated with genai-prices' own schema (as
`UpdatePrices.fetch` does), numbers are read as exact decimals (never floats), and every model
must flatten into prices this warehouse can store: finite, non-negative, at most 18 decimal
places. Every problem names the file, the provider and the model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pydantic
from genai_prices.types import Provider, _providers_from_raw

from warehouse.pricing.catalog import Catalog, CatalogMatch, catalog_periods
from warehouse.pricing.periods import RATE_COLUMNS

MAX_ERRORS = 20  # a broken file can have thousands: the first ones say what is wrong
MAX_PLACES = 18  # what DECIMAL(38, 18) keeps


class CatalogFileError(ValueError):
    """A catalog data file that cannot be used; `errors` names each problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class CatalogData:
    """A valid catalog data file: its text (as stored), SHA-256 and parsed providers."""

    text: str
    sha256: str
    providers: list[Provider]

    @property
    def models(self) -> int:
        return sum(len(provider.models) for provider in self.providers)

    def catalog(self) -> Catalog:
        return Catalog(self.providers, key=f"sha256:{self.sha256}")


def parse_catalog(raw: bytes, where: str) -> CatalogData:
    """Parse and check a genai-prices data file; raises CatalogFileError naming `where`."""
    try:
        text = raw.decode("utf-8")
        document = json.loads(text, parse_float=Decimal)
    except UnicodeDecodeError as exc:
        raise CatalogFileError([f"{where}: not UTF-8 text ({exc.reason})"]) from None
    except json.JSONDecodeError as exc:
        raise CatalogFileError(
            [f"{where}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"]
        ) from None
    if isinstance(document, Mapping) and "providers" in document:
        document = document["providers"]
    if not isinstance(document, list):
        raise CatalogFileError(
            [
                f"{where}: must be a genai-prices data file: a JSON list of providers "
                "(data.json) or an object with a `providers` list"
            ]
        )
    errors: list[str] = []
    providers: list[Provider] = []
    seen: set[str] = set()
    for index, raw_provider in enumerate(document, start=1):
        at = f"{where}: provider #{index}{_label(raw_provider)}"
        try:
            (provider,) = _providers_from_raw([raw_provider])
        except pydantic.ValidationError as exc:
            errors.extend(_validation_errors(exc, raw_provider, at))
            continue
        except (TypeError, ValueError) as exc:
            errors.append(f"{at}: {exc}")
            continue
        if provider.id in seen:
            errors.append(f"{at}: the provider id {provider.id!r} is given twice")
        seen.add(provider.id)
        errors.extend(_price_errors(provider, at))
        providers.append(provider)
    if not errors and not any(provider.models for provider in providers):
        errors.append(f"{where}: holds no models")
    if errors:
        more = len(errors) - MAX_ERRORS
        raise CatalogFileError(errors[:MAX_ERRORS] + ([f"... and {more} more"] if more > 0 else []))
    return CatalogData(text, hashlib.sha256(raw).hexdigest(), providers)


def _label(raw: object) -> str:
    if isinstance(raw, Mapping) and isinstance(raw.get("id"), str):
        return f" ({raw['id']})"
    return ""


def _validation_errors(exc: pydantic.ValidationError, raw: Any, at: str) -> list[str]:
    """Each error with its place: `models[3] (gpt-4o): prices.input_mtok: ...`."""
    found = []
    for error in exc.errors():
        location = list(error["loc"])[1:]  # [0] is the index in the one-provider list
        parts: list[str] = []
        node = raw
        for step in location:
            if isinstance(step, int):
                item = node[step] if isinstance(node, list) and step < len(node) else None
                label = _label(item)
                parts[-1:] = [f"{parts[-1] if parts else ''}[{step}]{label}"]
                node = item
            else:
                parts.append(str(step))
                node = node.get(step) if isinstance(node, Mapping) else None
        found.append(f"{at}: {'.'.join(parts) or 'provider'}: {error['msg']}")
    return found


def _price_errors(provider: Provider, at: str) -> list[str]:
    """Prices this warehouse cannot store exactly, or that genai-prices would not accept."""
    errors = []
    for model in provider.models:
        try:
            periods = catalog_periods(CatalogMatch(provider, model))
        except (TypeError, ValueError, ArithmeticError) as exc:
            errors.append(f"{at}: model {model.id}: prices: {exc}")
            continue
        for period in periods:
            for name, value in zip(RATE_COLUMNS, period.rates.values(), strict=True):
                problem = _bad_price(value)
                if problem:
                    label = name.removesuffix("_mtok").removesuffix("_kcount")
                    errors.append(f"{at}: model {model.id}: {label} price {value}: {problem}")
    return errors


def _bad_price(value: Decimal) -> str | None:
    if not value.is_finite() or value < 0:
        return "must be a finite, non-negative number"
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_PLACES:
        return f"has more than {MAX_PLACES} decimal places"
    return None
