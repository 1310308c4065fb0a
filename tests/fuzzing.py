"""What the decoder fuzz tests share: hypothesis settings that replay the same examples on
every run (a CI failure reproduces locally), the normalizer, and the edge times."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

from collector.normalize import Normalizer
from tests import otlp

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
