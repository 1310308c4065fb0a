"""How much of one item ingest stores: its strings, its keys, and its attributes as a whole.

An item is a span, an outcome log record or a metric data point (docs/ingest.md, "Size
limits"):

- a string value (of an attribute, a resource attribute, an event, a link, a status
  message) is cut at `MAX_VALUE_CHARS` characters, followed by `TRUNCATED` saying how many
  were cut;
- an attribute key (of a span, a resource, an event, a link, a log record, a data point, or
  a key-value list nested in a value) is cut at `MAX_KEY_CHARS` characters, with the same
  marker;
- a model, provider or dimension value longer than `MAX_KEY_CHARS` rejects its item
  instead (the decoders check them): cutting would merge distinct sessions or tenants;
- an item's attributes, and a span's attributes, events and links together, are kept
  within a budget of characters of their stored JSON (`Settings.max_item_attribute_chars`):
  attributes first, then events, then links, each one whole or not at all, in order; what
  does not fit is dropped and counted, as the OTel SDK counts its dropped attributes, in
  the kept attributes under `DROPPED_ATTRIBUTES`, `DROPPED_EVENTS` and `DROPPED_LINKS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

# Longest string value kept in the stored JSON (attributes, resource attributes, events,
# links) and in a status message; the rest is cut and replaced with `TRUNCATED`.
MAX_VALUE_CHARS = 16_384
TRUNCATED = "...[truncated {} chars]"
# Longest model, provider or dimension value accepted (cutting one would merge distinct
# sessions, users or tenants, so a longer one rejects its item), and longest attribute key
# kept (a longer one is cut with `TRUNCATED`).
MAX_KEY_CHARS = 1024
# The default of `Settings.max_item_attribute_chars`: 16 full-length values.
DEFAULT_ITEM_CHARS = 262_144
DROPPED_ATTRIBUTES = "spendscope.dropped_attributes_count"
DROPPED_EVENTS = "spendscope.dropped_events_count"
DROPPED_LINKS = "spendscope.dropped_links_count"
# Room the budget keeps for the three counts.
_COUNTS_CHARS = 128


def to_json(value: Mapping[str, Any] | list[Any]) -> str | None:
    """Compact JSON for the kept attributes, events and links, every string value cut at
    `MAX_VALUE_CHARS` (with the `TRUNCATED` marker); None when empty."""
    if not value:
        return None
    text = orjson.dumps(value).decode()
    if len(text) <= MAX_VALUE_CHARS:
        return text  # no string inside can be longer: the common case costs nothing more
    return orjson.dumps(_bounded(value)).decode()


def bounded_text(text: str) -> str:
    """`text`, or its first `MAX_VALUE_CHARS` characters and the `TRUNCATED` marker."""
    if len(text) <= MAX_VALUE_CHARS:
        return text
    return text[:MAX_VALUE_CHARS] + TRUNCATED.format(len(text) - MAX_VALUE_CHARS)


def cut_key(key: str) -> str:
    """`key`, or its first `MAX_KEY_CHARS` characters and the `TRUNCATED` marker."""
    if len(key) <= MAX_KEY_CHARS:
        return key
    return key[:MAX_KEY_CHARS] + TRUNCATED.format(len(key) - MAX_KEY_CHARS)


def cut_keys(keys: list[str]) -> list[str]:
    """`keys` with each one cut by `cut_key`; the list itself when none is too long."""
    if not keys or max(map(len, keys)) <= MAX_KEY_CHARS:
        return keys
    return [cut_key(key) for key in keys]


def attributes_json(attributes: Mapping[str, Any], budget: int) -> str | None:
    """`to_json(attributes)`, within `budget` characters: attributes in order as long as
    they fit, the number of the others under `DROPPED_ATTRIBUTES`."""
    text = to_json(attributes)
    if text is None or len(text) <= budget:
        return text
    kept, dropped, _ = _fit_attributes(attributes, budget - _COUNTS_CHARS)
    kept[DROPPED_ATTRIBUTES] = dropped
    return to_json(kept)


def span_json(
    attributes: Mapping[str, Any], events: list[Any], links: list[Any], budget: int
) -> tuple[str, str, str]:
    """A span's attributes, events and links as stored: the JSON of each, all three within
    `budget` characters (attributes first, then events, then links; the counts of what was
    dropped go into the attributes).

    None of the three is ever NULL (`{}` / `[]` when empty): DuckDB 1.5.5 copies a long
    string once per NULL that follows it in a column when it scans (duckdb/duckdb#24897), so
    one large span among thousands without events took 1.8 GB per scan of `events` at this
    budget, 8.6 GB at 2 MB; with a short string instead of NULL, 0.14 GB (measured;
    tests/warehouse/jobs/test_job_memory.py).
    """
    texts = _stored(to_json(attributes), to_json(events), to_json(links))
    if len(texts[0]) + len(texts[1]) + len(texts[2]) <= budget:
        return texts
    kept, dropped_attributes, room = _fit_attributes(attributes, budget - _COUNTS_CHARS)
    kept_events, dropped_events, room = _fit_items(events, room)
    kept_links, dropped_links, room = _fit_items(links, room)
    for key, count in (
        (DROPPED_ATTRIBUTES, dropped_attributes),
        (DROPPED_EVENTS, dropped_events),
        (DROPPED_LINKS, dropped_links),
    ):
        if count:
            kept[key] = count
    return _stored(to_json(kept), to_json(kept_events), to_json(kept_links))


def _stored(attributes: str | None, events: str | None, links: str | None) -> tuple[str, str, str]:
    """Empty JSON instead of NULL (see `span_json`)."""
    return attributes or "{}", events or "[]", links or "[]"


def _fit_attributes(attributes: Mapping[str, Any], room: int) -> tuple[dict[str, Any], int, int]:
    """The attributes that fit in `room` characters of JSON, in order; how many did not;
    the room left."""
    kept: dict[str, Any] = {}
    dropped = 0
    room -= 2  # the braces
    for key, value in attributes.items():
        cost = len(orjson.dumps(key)) + len(orjson.dumps(_bounded(value))) + 2
        if cost <= room:
            kept[key] = value
            room -= cost
        else:
            dropped += 1
    return kept, dropped, room


def _fit_items(items: Iterable[Any], room: int) -> tuple[list[Any], int, int]:
    """The events (or links) that fit in `room` characters of JSON, each whole, in order."""
    kept: list[Any] = []
    dropped = 0
    room -= 2  # the brackets
    for item in items:
        cost = len(orjson.dumps(_bounded(item))) + 1
        if cost <= room:
            kept.append(item)
            room -= cost
        else:
            dropped += 1
    return kept, dropped, room


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        return bounded_text(value)
    if isinstance(value, dict):
        return {key: _bounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_bounded(item) for item in value]
    return value
