"""Outcomes: the business results ("ticket_resolved", "search_succeeded") that value units
count, whichever way they were reported.

This module is the one definition of an outcome: the attribute names apps use
(docs/value-units.md), the validation rules, the deterministic identities that make
re-sent outcomes count once, and the two writes: `insert_outcomes` and `sequence_outcomes`.

Identity: an outcome that carries its own id (`spendscope.outcome.id`, or `id` in the API)
is `sha256("id:" + id)`, whatever way it arrived; otherwise a span event is identified by
its span and position, a span-attribute outcome by its span, a log record and an API
outcome by a hash of their content. Ids are the first 32 hex digits.

Ingest sequence: rows are stored with `seq` NULL and numbered later by `sequence_outcomes`,
which only the `outcomes` job runs (as its housekeeping; jobs run in one place, one at a
time). So `seq` grows in commit order and a downstream job that has processed every outcome
up to `seq = w` can rely on every later commit carrying `seq > w`; rows whose `seq` is still
NULL are not yet visible to it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from warehouse.core.clock import naive_utc
from warehouse.core.errors import InvalidRequest
from warehouse.store.numbering import on_lake
from warehouse.store.staging import registered
from warehouse.store.upsert import insert_new

OUTCOME_EVENT = "spendscope.outcome"
NAME_ATTRIBUTE = "spendscope.outcome.name"
COUNT_ATTRIBUTE = "spendscope.outcome.count"
SUCCESS_ATTRIBUTE = "spendscope.outcome.success"
KEY_ATTRIBUTE = "spendscope.outcome.key"
FEATURE_ATTRIBUTE = "spendscope.outcome.feature"
ID_ATTRIBUTE = "spendscope.outcome.id"
# Log records name their event in the `event_name` field (OTLP 1.5+) or, in older SDKs,
# in this attribute.
EVENT_NAME_ATTRIBUTE = "event.name"

MAX_NAME_CHARS = 200
MAX_KEY_CHARS = 512
MAX_COUNT = 1_000_000_000
# A count sent as a string must look like a number (the SQL uses the same pattern).
NUMBER_PATTERN = r"[+-]?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?"
ID_HEX_DIGITS = 32


class OutcomeInvalid(InvalidRequest):
    """An outcome that cannot be stored as reported; the message says why."""


@dataclass(frozen=True, slots=True)
class OutcomeFields:
    """What an outcome says about itself (from attributes or the API)."""

    name: str
    count: int
    success: bool | None
    key: str | None
    feature: str | None
    client_id: str | None


# --- identities ------------------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:ID_HEX_DIGITS]


def explicit_id(client_id: str) -> str:
    """The id of an outcome that names itself: the same from every source."""
    return _digest(f"id:{client_id}")


def span_event_id(trace_id: bytes, span_id: bytes, index: int) -> str:
    """The id of the outcome in event `index` (0-based) of a span (`extraction.OUTCOME_ID`)."""
    return _digest(f"span_event:{trace_id.hex()}:{span_id.hex()}:{index}")


def span_attribute_id(trace_id: bytes, span_id: bytes) -> str:
    """The id of the outcome a span declared in its attributes (`extraction.OUTCOME_ID`)."""
    return _digest(f"span_attribute:{trace_id.hex()}:{span_id.hex()}")


def content_id(source: str, content: Any) -> str:
    """The id of an outcome without identity of its own: a hash of what it says."""
    return _digest(f"{source}:" + orjson.dumps(content, option=orjson.OPT_SORT_KEYS).decode())


# --- validation (the SQL in extraction.py applies the same rules) --------------


def _text(value: Any, what: str, limit: int, *, numbers: bool) -> str | None:
    """An optional text attribute; an empty string is no value, as in the normalizer."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value
    elif numbers and isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    else:
        kind = "a string or an integer" if numbers else "a string"
        raise OutcomeInvalid(f"{what} must be {kind}, got {type(value).__name__}")
    if len(text) > limit:
        raise OutcomeInvalid(f"{what} is longer than {limit} characters")
    return text


def parse_name(value: Any, what: str = NAME_ATTRIBUTE) -> str:
    """A non-blank string, without surrounding spaces."""
    if not isinstance(value, str) or not value.strip(" "):
        raise OutcomeInvalid(f"{what} must be a non-empty string")
    name = value.strip(" ")
    if len(name) > MAX_NAME_CHARS:
        raise OutcomeInvalid(f"{what} is longer than {MAX_NAME_CHARS} characters")
    return name


def parse_count(value: Any, what: str = COUNT_ATTRIBUTE) -> int:
    """A whole number from 0 to MAX_COUNT; absent means 1. Numeric strings are accepted."""
    if value is None:
        return 1
    number: float | int
    if isinstance(value, bool):
        raise OutcomeInvalid(f"{what} must be a whole number, got a boolean")
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str) and re.fullmatch(NUMBER_PATTERN, value):
        number = float(value)
    else:
        raise OutcomeInvalid(f"{what} must be a whole number")
    if not math.isfinite(number) or number != math.floor(number):
        raise OutcomeInvalid(f"{what} must be a whole number, got {value!r}")
    if not 0 <= number <= MAX_COUNT:
        raise OutcomeInvalid(f"{what} must be between 0 and {MAX_COUNT}, got {value!r}")
    return int(number)


def parse_success(value: Any, what: str = SUCCESS_ATTRIBUTE) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise OutcomeInvalid(f"{what} must be a boolean (or 'true' / 'false')")


def parse_attributes(attributes: Mapping[str, Any]) -> OutcomeFields:
    """The outcome described by `spendscope.outcome.*` telemetry attributes."""
    return OutcomeFields(
        name=parse_name(attributes.get(NAME_ATTRIBUTE)),
        count=parse_count(attributes.get(COUNT_ATTRIBUTE)),
        success=parse_success(attributes.get(SUCCESS_ATTRIBUTE)),
        key=_text(attributes.get(KEY_ATTRIBUTE), KEY_ATTRIBUTE, MAX_KEY_CHARS, numbers=True),
        feature=_text(
            attributes.get(FEATURE_ATTRIBUTE), FEATURE_ATTRIBUTE, MAX_NAME_CHARS, numbers=False
        ),
        client_id=_text(attributes.get(ID_ATTRIBUTE), ID_ATTRIBUTE, MAX_KEY_CHARS, numbers=True),
    )


# --- rows ------------------------------------------------------------------------------

# The Arrow batch the receivers build; `received_at` and `seq` are set when it is stored.
ROW_SCHEMA = pa.schema(
    [
        ("outcome_id", pa.string()),
        ("source", pa.string()),
        ("name", pa.string()),
        ("count", pa.int64()),
        ("success", pa.bool_()),
        ("occurred_ns", pa.int64()),
        ("trace_id", pa.binary()),
        ("span_id", pa.binary()),
        ("session_id", pa.string()),
        ("business_key", pa.string()),
        ("feature", pa.string()),
        ("tenant_id", pa.string()),
        ("client_id", pa.string()),
        ("attributes", pa.string()),
    ]
)
ROW_COLUMNS = tuple(ROW_SCHEMA.names)


class OutcomeRows:
    """Outcomes accumulated column by column, deduplicated by id within the batch."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in ROW_COLUMNS}
        self.ids: list[str] = []
        self._seen: set[str] = set()

    def __len__(self) -> int:
        return len(self.ids)

    def add(
        self,
        outcome_id: str,
        source: str,
        fields: OutcomeFields,
        occurred_ns: int,
        *,
        trace_id: bytes | None = None,
        span_id: bytes | None = None,
        session_id: str | None = None,
        tenant_id: str | None = None,
        attributes: str | None = None,
    ) -> bool:
        """Append one outcome; False when the batch already holds that id."""
        if outcome_id in self._seen:
            return False
        self._seen.add(outcome_id)
        self.ids.append(outcome_id)
        c = self.columns
        c["outcome_id"].append(outcome_id)
        c["source"].append(source)
        c["name"].append(fields.name)
        c["count"].append(fields.count)
        c["success"].append(fields.success)
        c["occurred_ns"].append(occurred_ns)
        c["trace_id"].append(trace_id or None)
        c["span_id"].append(span_id or None)
        c["session_id"].append(session_id)
        c["business_key"].append(fields.key)
        c["feature"].append(fields.feature)
        c["tenant_id"].append(tenant_id)
        c["client_id"].append(fields.client_id)
        c["attributes"].append(attributes)
        return True

    def to_arrow(self) -> pa.Table:
        return pa.Table.from_pydict(self.columns, schema=ROW_SCHEMA)


_STORED = (
    "outcome_id", "source", "name", "count", "success", "trace_id", "span_id", "session_id",
    "business_key", "feature", "tenant_id", "client_id", "attributes",
)  # fmt: skip

_ROWS = f"""
SELECT {", ".join(_STORED)}, make_timestamp(occurred_ns // 1000), $received_at
FROM incoming_outcomes
"""
INSERT_OUTCOMES = f"""
INSERT OR IGNORE INTO outcomes ({", ".join(_STORED)}, occurred_at, received_at) {_ROWS}
RETURNING outcome_id
"""
# On a lake (no key to ignore on, no RETURNING): the new ids first, then the insert.
LAKE_NEW_IDS = """
SELECT DISTINCT outcome_id FROM incoming_outcomes i
WHERE NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.outcome_id = i.outcome_id)
"""
LAKE_INSERT_OUTCOMES = insert_new(
    "outcomes", ("outcome_id",), (*_STORED, "occurred_at", "received_at"), _ROWS
)

# Numbers the committed rows that have no `seq` yet, oldest first. Only the sequencer runs it.
SEQUENCE_OUTCOMES = """
UPDATE outcomes SET seq = numbered.seq
FROM (
    SELECT outcome_id,
           (SELECT coalesce(max(seq), 0) FROM outcomes)
           + row_number() OVER (ORDER BY received_at, occurred_at, outcome_id) AS seq
    FROM outcomes
    WHERE seq IS NULL
) numbered
WHERE outcomes.outcome_id = numbered.outcome_id
"""


def insert_outcomes(
    cursor: duckdb.DuckDBPyConnection, rows: pa.Table, received_at: dt.datetime
) -> set[str]:
    """Store the outcomes not already stored; returns the ids that were new.

    The caller owns the transaction. An id already stored keeps its first version.
    """
    if rows.num_rows == 0:
        return set()
    params = {"received_at": naive_utc(received_at)}
    with registered(cursor, "incoming_outcomes", rows):
        if on_lake(cursor):
            new = cursor.execute(LAKE_NEW_IDS).fetchall()
            cursor.execute(LAKE_INSERT_OUTCOMES, params)
        else:
            new = cursor.execute(INSERT_OUTCOMES, params).fetchall()
    return {row[0] for row in new}


def sequence_outcomes(cursor: duckdb.DuckDBPyConnection) -> int:
    """Give every committed outcome without one the next ingest sequence numbers.

    The caller owns the transaction and must be the only sequencer (the `outcomes` job).
    """
    row = cursor.execute(SEQUENCE_OUTCOMES).fetchone()
    return int(row[0]) if row else 0
