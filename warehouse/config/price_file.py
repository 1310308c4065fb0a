"""The price file: `<data_dir>/prices.toml` (or `prices.yaml`), the user's own prices.

    [[prices]]
    provider = "openai"            # as in spans (OTel name), or "*" for any provider
    model = "gpt-4o"               # exact name (default), or a pattern with `match`
    match = "exact"                # exact | glob | regex (case-insensitive, whole name)
    input_mtok = "2.125"           # USD per million tokens; strings keep decimals exact
    cache_read_mtok = "1.0625"     # optional: defaults to input_mtok
    cache_write_mtok = "2.125"     # optional: defaults to input_mtok
    output_mtok = "8.5"
    reasoning_mtok = "8.5"         # optional: defaults to output_mtok
    effective_from = 2025-06-01    # optional date or datetime (UTC): all history if absent
    effective_until = 2026-06-01   # optional end (exclusive): the catalog prices after it
    note = "negotiated 15% off"

    [[prices.tiers]]               # optional: calls whose input tokens exceed `start`
    start = 200000                 # (cache included) pay these rates on all their tokens
    input_mtok = "4.25"
    output_mtok = "12.75"

Validation names the file, the entry (number, provider/model) and the field of every error;
API overrides go through the same `parse_override`.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from warehouse.core.errors import InvalidEntries
from warehouse.pricing.pricebook import MATCH_KINDS, SINCE_ALWAYS, Override, OverrideTier

PRICE_FILES = ("prices.toml", "prices.yaml", "prices.yml")
MAX_PRICE = Decimal("1e12")  # USD per million tokens; anything above is a typo
MAX_PRICE_PLACES = 18  # what DECIMAL(38, 18) keeps


class PriceFileError(InvalidEntries):
    """A price file or an override that cannot be used; `errors` names each bad entry."""


_FIELDS = {
    "provider",
    "model",
    "match",
    "input_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "output_mtok",
    "reasoning_mtok",
    "effective_from",
    "effective_until",
    "tiers",
    "note",
}
_TIER_FIELDS = {
    "start",
    "input_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "output_mtok",
    "reasoning_mtok",
}
_PRICE_FIELDS = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "reasoning_mtok",
)


def parse_price(value: object) -> Decimal:
    """A USD amount per million tokens: a decimal string, an integer or a float."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f"must be a decimal number, got {type(value).__name__}")
    try:
        # str(float) is the shortest repr, so 0.15 stays 0.15 (not 0.1499999...)
        price = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise ValueError(f"must be a decimal number, got {value!r}") from None
    if not price.is_finite() or price < 0:
        raise ValueError(f"must be a finite, non-negative number, got {value!r}")
    if price > MAX_PRICE:
        raise ValueError(f"{value} USD per million tokens is more than {MAX_PRICE}")
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_PRICE_PLACES:
        raise ValueError(f"has more than {MAX_PRICE_PLACES} decimal places: {value!r}")
    return price


def parse_instant(value: object) -> dt.datetime:
    """A date (UTC midnight) or datetime (UTC when naive) as a naive UTC datetime."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"must be an ISO date or datetime, got {value!r}") from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(0))
    raise ValueError(f"must be a date or datetime, got {type(value).__name__}")


def check_fields(entry: object, where: str, fields: set[str]) -> list[str]:
    """An entry must be a table; its unknown fields are the first errors (returned, to
    append to). Raises PriceFileError for anything but a table."""
    if not isinstance(entry, Mapping):
        raise PriceFileError([f"{where}: must be a table of fields, got {type(entry).__name__}"])
    unknown = sorted(set(entry) - fields)
    return [f"{where}: unknown field(s) {', '.join(unknown)}"] if unknown else []


def effective_from_and_note(
    entry: Mapping[str, Any], where: str, errors: list[str]
) -> tuple[dt.datetime, str | None]:
    """The `effective_from` (all history when absent) and `note` fields of a price entry,
    token or GPU; problems are appended to `errors`."""
    effective_from = SINCE_ALWAYS
    if entry.get("effective_from") is not None:
        try:
            effective_from = parse_instant(entry["effective_from"])
        except ValueError as exc:
            errors.append(f"{where}: effective_from: {exc}")
    note = entry.get("note")
    if note is not None and not isinstance(note, str):
        errors.append(f"{where}: note: must be a string")
        note = None
    return effective_from, note


def _prices(entry: Mapping[str, Any], where: str, errors: list[str]) -> dict[str, Decimal | None]:
    """The price fields of an override or tier; input and output are required."""
    prices: dict[str, Decimal | None] = {}
    for name in _PRICE_FIELDS:
        value = entry.get(name)
        if value is None:
            if name in ("input_mtok", "output_mtok"):
                errors.append(f"{where}: {name}: required (USD per million tokens)")
            prices[name] = None
            continue
        try:
            prices[name] = parse_price(value)
        except ValueError as exc:
            errors.append(f"{where}: {name}: {exc}")
    return prices


def _tiers(value: object, where: str, errors: list[str]) -> tuple[OverrideTier, ...]:
    """`tiers`: a list of tables, each a `start` (input tokens, increasing) and its prices."""
    if not isinstance(value, list) or not value:
        errors.append(f"{where}: tiers: must be a non-empty list of tiers")
        return ()
    tiers: list[OverrideTier] = []
    previous = 0
    for index, entry in enumerate(value, start=1):
        at = f"{where}: tier #{index}"
        try:
            problems = check_fields(entry, at, _TIER_FIELDS)
        except PriceFileError as exc:
            errors.extend(exc.errors)
            continue
        start = entry.get("start")
        if isinstance(start, bool) or not isinstance(start, int) or start <= previous:
            problems.append(
                f"{at}: start: must be a whole number of input tokens above "
                f"{previous if tiers else 0} (tiers in increasing order), got {start!r}"
            )
        prices = _prices(entry, at, problems)
        errors.extend(problems)
        if problems:
            continue
        previous = start
        tiers.append(OverrideTier(start=start, **_checked(prices)))
    return tuple(tiers)


def _checked(prices: dict[str, Decimal | None]) -> dict[str, Any]:
    """The price fields of an entry `_prices` found no error in (input and output set)."""
    assert prices["input_mtok"] is not None and prices["output_mtok"] is not None
    return dict(prices)


def parse_override(entry: Mapping[str, Any], where: str) -> Override:
    """Validate one override entry; errors name `where` (file and entry) and the field."""
    errors = check_fields(entry, where, _FIELDS)
    texts: dict[str, str] = {}
    for name in ("provider", "model"):
        value = entry.get(name)
        if not isinstance(value, str) or not value.strip():
            errors.append(f"{where}: {name}: required, a non-empty string")
        else:
            texts[name] = value.strip()
    match = entry.get("match", "exact")
    if match not in MATCH_KINDS:
        errors.append(f"{where}: match: must be one of {', '.join(MATCH_KINDS)}, got {match!r}")
    elif match == "regex" and "model" in texts:
        try:
            re.compile(texts["model"])
        except re.error as exc:
            errors.append(f"{where}: model: invalid regular expression ({exc})")
    prices = _prices(entry, where, errors)
    effective_from, note = effective_from_and_note(entry, where, errors)
    effective_until = None
    if entry.get("effective_until") is not None:
        try:
            effective_until = parse_instant(entry["effective_until"])
        except ValueError as exc:
            errors.append(f"{where}: effective_until: {exc}")
        else:
            if effective_until <= effective_from:
                errors.append(f"{where}: effective_until: must be after effective_from")
    tiers = _tiers(entry["tiers"], where, errors) if entry.get("tiers") is not None else ()
    if errors:
        raise PriceFileError(errors)
    return Override(
        provider=texts["provider"].lower(),
        model_pattern=texts["model"],
        match_kind=match,
        **_checked(prices),
        effective_from=effective_from,
        effective_until=effective_until,
        tiers=tiers,
        note=note,
    )


def find_price_file(data_dir: Path) -> Path | None:
    """`<data_dir>/prices.toml` (or .yaml / .yml); more than one is an error."""
    found = [data_dir / name for name in PRICE_FILES if (data_dir / name).is_file()]
    if len(found) > 1:
        names = ", ".join(str(path) for path in found)
        raise PriceFileError([f"more than one price file ({names}): keep one"])
    return found[0] if found else None


def read_document(path: Path) -> dict[str, Any]:
    """The price file as a table of top-level keys: `prices` (token prices, below) and
    `gpu_prices` (GPU-hour prices, `warehouse.gpu.prices`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceFileError([f"{path}: cannot read ({exc.strerror})"]) from None
    try:
        document = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text) or {}
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise PriceFileError([f"{path}: not valid {path.suffix[1:].upper()}: {exc}"]) from None
    if not isinstance(document, dict):
        raise PriceFileError([f"{path}: must hold a `prices` list"])
    unknown = sorted(set(document) - {"prices", "gpu_prices"})
    if unknown:
        raise PriceFileError([f"{path}: unknown top-level key(s) {', '.join(unknown)}"])
    return document


def load_price_file(path: Path) -> list[Override]:
    """Parse and validate a price file's top-level `prices` list of override entries."""
    document = read_document(path)
    entries = document.get("prices", [])
    if not isinstance(entries, list):
        raise PriceFileError([f"{path}: `prices` must be a list of entries"])
    errors: list[str] = []
    overrides: list[Override] = []
    seen: dict[tuple[object, ...], int] = {}
    for index, entry in enumerate(entries, start=1):
        label = _label(entry)
        where = f"{path}: price #{index}{label}"
        try:
            override = parse_override(entry, where)
        except PriceFileError as exc:
            errors.extend(exc.errors)
            continue
        key = (
            override.provider,
            override.model_pattern,
            override.match_kind,
            override.effective_from,
        )
        if key in seen:
            errors.append(
                f"{where}: same provider, model, match and effective_from as #{seen[key]}"
            )
            continue
        seen[key] = index
        overrides.append(override)
    if errors:
        raise PriceFileError(errors)
    return overrides


def _label(entry: object) -> str:
    if isinstance(entry, Mapping) and isinstance(entry.get("model"), str):
        return f" ({entry.get('provider')}/{entry['model']})"
    return ""
