"""FOCUS rows as files: CSV (UTF-8, a header row, FOCUS formats: `YYYY-MM-DDTHH:mm:ssZ`
date/times, plain decimals without exponent or thousands separators, empty for null) and
Parquet (UTC timestamps, exact DECIMAL columns, strings, an integer for `x_Calls`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, localcontext
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.export.focus import column_types

Format = Literal["csv", "parquet"]
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
# Costs and unit prices keep the warehouse's 24 decimal places; quantities are whole tokens
# or requests, and pricing quantities millionths of them.
DECIMAL = pa.decimal128(38, 24)
SCALE = Decimal(1).scaleb(-DECIMAL.scale)
ARROW_TYPES = {
    "String": pa.string(),
    "Decimal": DECIMAL,
    "Date/Time": pa.timestamp("ms", tz="UTC"),  # Parquet has no whole-second unit
    "Integer": pa.int64(),
}


def focus_datetime(value: dt.datetime) -> str:
    """FOCUS Date/Time Format: UTC, extended ISO 8601 with `Z`."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def focus_decimal(value: Decimal) -> str:
    """FOCUS Numeric Format: a plain decimal, no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return focus_datetime(value)
    if isinstance(value, Decimal):
        return focus_decimal(value)
    return str(value)


def csv_text(rows: Iterable[Mapping[str, Any]], header: bool = True) -> str:
    columns = [name for name, _ in column_types()]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[name]) for name in columns])
    return out.getvalue()


def arrow_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    schema = pa.schema([(name, ARROW_TYPES[kind]) for name, kind in column_types()])
    arrays = []
    for field in schema:
        values = [row[field.name] for row in rows]
        if field.type == DECIMAL:
            values = [None if v is None else _scaled(v) for v in values]
        elif pa.types.is_timestamp(field.type):
            values = [None if v is None else v.replace(tzinfo=dt.UTC) for v in values]
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _scaled(value: Decimal) -> Decimal:
    """`value` at the column's 24 decimal places (38 digits: the default context's 28
    would refuse a quantity of 10,000 tokens at that scale)."""
    with localcontext() as context:
        context.prec = DECIMAL.precision
        return Decimal(value).quantize(SCALE)


def parquet_bytes(rows: Sequence[Mapping[str, Any]]) -> bytes:
    out = io.BytesIO()
    pq.write_table(arrow_table(rows), out)
    return out.getvalue()


def render(rows: Sequence[Mapping[str, Any]], file_format: Format) -> bytes:
    """The rows as a whole file of `file_format`."""
    if file_format == "csv":
        return csv_text(rows).encode()
    return parquet_bytes(rows)
