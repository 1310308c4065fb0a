"""The GPU settings the jobs need, kept in the database (`gpu_config`).

The jobs run without the service's settings object, so the serving process stores the
GPU settings at start (`store_config`) and the jobs read them (`load_config`). A change
(another match order, gap or deployment attribute) is noticed by the jobs' fingerprints,
which recompute what it affects. The table also holds the jobs' own fingerprints.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import duckdb
import orjson

from warehouse.store.upsert import replace_into

MATCH_RULES = ("deployment", "server_address", "model")
DEFAULT_DEPLOYMENT_KEYS = ("spendscope.deployment", "k8s.deployment.name", "deployment")
DEFAULT_MAX_SAMPLE_GAP_SECONDS = 120.0
_KEY = "config"


@dataclass(frozen=True)
class GpuConfig:
    # How a model-call span is matched to the deployment that served it, in order.
    match: tuple[str, ...] = MATCH_RULES
    # Span (then resource) attributes naming the deployment, for the `deployment` rule.
    deployment_attributes: tuple[str, ...] = DEFAULT_DEPLOYMENT_KEYS
    # A utilization sample stands for at most this long (gaps beyond are GPU absence).
    max_sample_gap_seconds: float = DEFAULT_MAX_SAMPLE_GAP_SECONDS

    def __post_init__(self) -> None:
        unknown = sorted(set(self.match) - set(MATCH_RULES))
        if unknown:
            raise ValueError(f"unknown GPU match rule(s) {', '.join(unknown)}")

    @property
    def max_gap_ms(self) -> int:
        return round(self.max_sample_gap_seconds * 1000)

    def fingerprint(self) -> str:
        return hashlib.sha256(orjson.dumps(asdict(self))).hexdigest()


def store_config(cursor: duckdb.DuckDBPyConnection, config: GpuConfig) -> None:
    set_value(cursor, _KEY, orjson.dumps(asdict(config)).decode())


def load_config(cursor: duckdb.DuckDBPyConnection) -> GpuConfig:
    stored = get_value(cursor, _KEY)
    if stored is None:
        return GpuConfig()
    fields = orjson.loads(stored)
    return GpuConfig(
        match=tuple(fields["match"]),
        deployment_attributes=tuple(fields["deployment_attributes"]),
        max_sample_gap_seconds=float(fields["max_sample_gap_seconds"]),
    )


def get_value(cursor: duckdb.DuckDBPyConnection, name: str) -> str | None:
    row = cursor.execute("SELECT value FROM gpu_config WHERE name = ?", [name]).fetchone()
    return str(row[0]) if row else None


def set_value(cursor: duckdb.DuckDBPyConnection, name: str, value: str) -> None:
    cursor.execute(
        replace_into("gpu_config", ("name",), "SELECT ?::VARCHAR AS name, ?::VARCHAR"),
        [name, value],
    )
