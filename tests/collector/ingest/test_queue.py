"""The default span queue answers 503 before the exporters time out (docs/reliability.md,
"The default queue").

A request behind a full queue waits about queue / rate for its commit. The old default
(200,000 spans) meant 36-100 s at the rates measured on the project's machine: clients timed
out (the OTel exporters' default is 10 s) long before any 503. The default must leave room
within that timeout at the slowest rate the overload runs measured, which the
documentation's table records (and which this test reads, so the two cannot drift apart).
"""

from __future__ import annotations

import re

from collector.settings import Settings
from tests.support.paths import REPO

EXPORTER_TIMEOUT_SECONDS = 10.0  # OTEL_EXPORTER_OTLP_TIMEOUT's default
# Left for the request's own decode, the network and a Retry-After round trip.
MARGIN_SECONDS = 4.0
RELIABILITY = REPO / "docs" / "reliability.md"


def measured_rates() -> list[int]:
    """Spans per second of the default-queue runs: the capacities and accepted rates."""
    section = RELIABILITY.read_text().split("### The default queue", 1)[1].split("\n## ", 1)[0]
    capacity = re.search(r"^\| capacity measured in the run \| (.+) \|$", section, re.M)
    accepted = re.search(r"^\| offered .* / accepted during the burst \| (.+) \|$", section, re.M)
    assert capacity and accepted, "the measured table is missing from docs/reliability.md"
    cells = capacity.group(1).split(" | ") + [
        cell.split(" / ")[1] for cell in accepted.group(1).split(" | ")
    ]
    return [int(re.sub(r"[^\d]", "", cell.split(" spans/s")[0])) for cell in cells]


def test_a_full_default_queue_drains_before_the_exporters_time_out() -> None:
    slowest = min(measured_rates())
    wait = Settings().max_queued_spans / slowest
    assert wait <= EXPORTER_TIMEOUT_SECONDS - MARGIN_SECONDS, (
        f"a full queue waits {wait:.1f} s at {slowest} spans/s"
    )
