"""What the decoder fuzz tests share: hypothesis settings that replay the same examples on
every run (a CI failure reproduces locally), the normalizer, the edge times, the scalar
OTLP attribute values, hand-written protobuf fields, and a migrated warehouse to insert what
was decoded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from collector.ingest.normalize import Normalizer
from sample_data.harness import otlp
from warehouse.store.database import Database

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NORMALIZER = Normalizer()
U64 = 2**64 - 1
YEAR_2200_NS = 7_258_118_400 * 10**9  # the first time ingest refuses
EDGE_TIMES = [0, 1, 2**63 - 1, 2**63, U64, otlp.BASE_NS, YEAR_2200_NS]
FLOATS = st.floats(allow_nan=True, allow_infinity=True)


def scalar_values(texts: st.SearchStrategy[str]) -> st.SearchStrategy[AnyValue]:
    """Every kind of scalar AnyValue (and the empty one), strings drawn from `texts`."""
    return st.one_of(
        texts.map(lambda v: AnyValue(string_value=v)),
        st.integers(-(2**63), 2**63 - 1).map(lambda v: AnyValue(int_value=v)),
        FLOATS.map(lambda v: AnyValue(double_value=v)),
        st.booleans().map(lambda v: AnyValue(bool_value=v)),
        st.binary(max_size=8).map(lambda v: AnyValue(bytes_value=v)),
        st.just(AnyValue()),
    )


def varint(value: int) -> bytes:
    """A protobuf varint, for bodies written by hand."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, payload: bytes, claimed: int | None = None) -> bytes:
    """A length-delimited protobuf field; `claimed` is the length it says it has, when that
    lies."""
    size = len(payload) if claimed is None else claimed
    return varint(number << 3 | 2) + varint(size) + payload


@contextmanager
def warehouse_cursor(directory: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on a freshly migrated warehouse in `directory`."""
    database = Database.open(directory / "spendscope.duckdb")
    cursor = database.cursor()
    try:
        yield cursor
    finally:
        cursor.close()
        database.close()
