"""OTLP attribute values (AnyValue, KeyValue) as plain Python values, and the OTLP/JSON
field helpers, shared by the decoders of every signal.

A value nested deeper than `MAX_ATTRIBUTE_DEPTH` levels, or a JSON field of the wrong shape,
raises `SpanRejected`: the item that holds it is rejected, not the request. Attribute keys
come out cut at `limits.MAX_KEY_CHARS`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from collector.ingest.bodies import DecodeError
from collector.ingest.limits import cut_key
from collector.ingest.rejections import SpanRejected

MAX_ATTRIBUTE_DEPTH = 16


# --- protobuf -------------------------------------------------------------------------


def proto_value(value: Any, depth: int = 0) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if depth >= MAX_ATTRIBUTE_DEPTH:
        raise SpanRejected(f"attribute value nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
    if kind == "array_value":
        return [proto_value(v, depth + 1) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {
            cut_key(kv.key): proto_value(kv.value, depth + 1) for kv in value.kvlist_value.values
        }
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def proto_attributes(attributes: Iterable[Any]) -> dict[str, Any]:
    return {cut_key(kv.key): proto_value(kv.value) for kv in attributes}


# --- JSON -----------------------------------------------------------------------------
# OTLP/JSON: ids are hex (not proto3 JSON's base64), 64-bit integers may be strings,
# enums are integers, keys are lowerCamelCase (snake_case accepted too), unknown keys ignored.


def json_field(obj: Mapping[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    value = obj.get(camel)
    if value is None:
        value = obj.get(snake, default)
    return default if value is None else value


def json_list(obj: Mapping[str, Any], camel: str, snake: str) -> list[Any]:
    value = json_field(obj, camel, snake, [])
    if not isinstance(value, list):
        raise SpanRejected(f"{camel} must be a list")
    return value


def json_object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise SpanRejected(f"{what} must be an object")
    return value


INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


def json_int(value: Any, what: str, low: int = 0, high: int = UINT64_MAX) -> int:
    """A 64-bit integer field: a JSON number or a decimal string, within [low, high]."""
    number: int | None = None
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = int(value)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None:
        raise SpanRejected(f"{what} must be an integer, got {preview(value)!r}")
    if not low <= number <= high:
        raise SpanRejected(f"{what} {number} is outside the 64-bit range")
    return number


def json_text(value: Any, what: str) -> str:
    """A JSON string field; a number or a boolean is taken as its text (as sent), anything
    else (an array or object, which may be nested a thousand levels deep) is rejected."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return preview(value, 1000)
    raise SpanRejected(f"{what} must be a string, not {type(value).__name__}")


def preview(value: Any, limit: int = 40) -> str:
    """The start of a JSON value's text, for messages: never the whole of a huge or deeply
    nested value (whose `str` alone would exhaust the recursion limit)."""
    if isinstance(value, list | dict):
        return type(value).__name__
    try:
        return str(value)[:limit]
    except ValueError:  # an integer beyond str()'s digit limit
        return "a number too long to show"


def json_id(value: Any, size: int, what: str) -> bytes:
    if value is None or value == "":
        return b""
    if not isinstance(value, str) or len(value) != size * 2:
        raise SpanRejected(f"{what} must be {size * 2} hex characters")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise SpanRejected(f"{what} is not hex") from None


def json_hex(value: Any, what: str) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise SpanRejected(f"{what} must be a hex string")
    try:
        return bytes.fromhex(value).hex()
    except ValueError:
        raise SpanRejected(f"{what} is not hex") from None


def json_value(value: Any, depth: int = 0) -> Any:
    if not isinstance(value, dict) or not value:
        return None
    for key, raw in value.items():
        if key in ("stringValue", "string_value"):
            return raw if isinstance(raw, str) else json_text(raw, "stringValue")
        if key in ("intValue", "int_value"):
            return json_int(raw, "intValue", INT64_MIN, INT64_MAX)
        if key in ("doubleValue", "double_value"):
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                return float(raw)
            try:
                return float(raw)
            except (TypeError, ValueError):
                raise SpanRejected("doubleValue must be a number") from None
        if key in ("boolValue", "bool_value"):
            if not isinstance(raw, bool):
                raise SpanRejected(f"boolValue must be true or false, not {preview(raw)!r}")
            return raw
        if depth >= MAX_ATTRIBUTE_DEPTH:
            raise SpanRejected(f"attribute value nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
        if key in ("arrayValue", "array_value"):
            values = json_list(json_object(raw, "arrayValue"), "values", "values")
            return [json_value(v, depth + 1) for v in values]
        if key in ("kvlistValue", "kvlist_value"):
            values = json_list(json_object(raw, "kvlistValue"), "values", "values")
            return json_attributes(values, depth + 1)
        if key in ("bytesValue", "bytes_value"):
            if not isinstance(raw, str):
                raise SpanRejected("bytesValue must be base64")
            try:
                base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                raise SpanRejected("bytesValue must be base64") from None
            return raw
    return None


def json_attributes(items: list[Any], depth: int = 0) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for item in items:
        item = json_object(item, "attribute")
        key = item.get("key", "")  # proto3 JSON leaves out the default, an empty key
        if not isinstance(key, str):
            raise SpanRejected("attribute key must be a string")
        attributes[cut_key(key)] = json_value(item.get("value"), depth)
    return attributes


def json_request(body: bytes, camel: str, snake: str) -> list[Any]:
    """An OTLP/JSON export request's list of resource items (`resourceSpans`, ...)."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise DecodeError("OTLP/JSON body must be an object")
    items = json_field(request, camel, snake, [])
    if not isinstance(items, list):
        raise DecodeError(f"{camel} must be a list")
    return items
