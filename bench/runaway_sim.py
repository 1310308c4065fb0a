"""Runaway-session simulation: half an hour of agent sessions, the real pricing job and the
real runaway detector on its default schedule, against runaways of known onset.

A real migrated warehouse gets two days of ordinary sessions of four agent features (the
peers, priced and rolled up by the real jobs), then a simulated half hour: 150 ordinary
sessions (3-8 varied calls, 15-45 s apart) and 12 runaways:
- loop: the same request every 3 s;
- burst: varied calls every second, 20-60x its peers' call rate;
- budget: expensive calls every 5 s, up to the $5 per-session budget configured for the
  run and past it.
Onset: the arrival of the first call after which the session meets a criterion by design
(all runaways are far beyond their peers, so that criterion holds from `min_spend_usd` on).
A span arrives 2 s after its call starts (its duration) and is attributed and priced within
2 s (the 1 s default interval of each job). Every 10 s (the runaway job's default interval)
the calls that have arrived and been priced are written, the pricing job runs, and the
runaway detector runs with that instant as `now`. Printed: per kind, the delay from onset
to the first detection (max and median), and how many ordinary sessions were flagged.
Target: every runaway within 60 s of its onset, no ordinary session flagged.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl

from warehouse.detection import runaway
from warehouse.detection.config import RunawayConfig
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.pricing import job as pricing
from warehouse.rollups import job as rollups
from warehouse.spans import attribution
from warehouse.spans.insert import last_batch_id
from warehouse.store.database import Database

T0 = dt.datetime(2026, 11, 20, 12, 0)
MINUTES = 30
TICK = dt.timedelta(seconds=10)
ARRIVAL = dt.timedelta(seconds=2)  # span duration: exported when it ends
PRICED = dt.timedelta(seconds=2)  # attribution then pricing, 1 s apart by default
FEATURES = ("research-agent", "support-agent", "coding-agent", "search")
TARGET_DELAY_S = 60.0
# Tokens: (input, output) per model; USD per call from the catalog at run time.
CHEAP, DEAR = "gpt-4o-mini", "gpt-4o"


@dataclass
class Session:
    id: str
    feature: str
    kind: str  # ordinary, loop, burst, budget
    calls: list[tuple[dt.datetime, str, int, int]] = field(default_factory=list)
    onset: dt.datetime | None = None
    detected: dt.datetime | None = None


def _ordinary(rng: random.Random, name: str, start: dt.datetime) -> Session:
    session = Session(name, rng.choice(FEATURES), "ordinary")
    at = start
    for _ in range(rng.randint(3, 8)):
        session.calls.append((at, CHEAP, rng.randint(1500, 6000), rng.randint(100, 800)))
        at += dt.timedelta(seconds=rng.uniform(15, 45))
    return session


def _runaway(rng: random.Random, kind: str, number: int, start: dt.datetime) -> Session:
    session = Session(f"runaway-{kind}-{number}", rng.choice(FEATURES), kind)
    at = start
    end = min(start + dt.timedelta(minutes=8), T0 + dt.timedelta(minutes=MINUTES))
    while at < end:
        if kind == "loop":
            session.calls.append((at, DEAR, 4200, 350))
            at += dt.timedelta(seconds=3)
        elif kind == "burst":
            session.calls.append((at, DEAR, rng.randint(8000, 12000), rng.randint(200, 900)))
            at += dt.timedelta(seconds=1)
        else:
            session.calls.append((at, DEAR, 30000, 3000))
            at += dt.timedelta(seconds=5)
    return session


def _rows(sessions: list[Session], batch: int, calls: list[tuple[Session, int]]) -> pl.DataFrame:
    rows = []
    for session, index in calls:
        start, model, tokens_in, tokens_out = session.calls[index]
        number = hash((session.id, index)) & 0x7FFFFFFFFFFFFFFF
        rows.append(
            {
                "trace_id": f"{hash(session.id) & 0xFFFFFFFFFFFF:032x}",
                "span_id": f"{number:016x}",
                "batch_id": batch,
                "start_time": start,
                "model": model,
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "feature": session.feature,
                "session_id": session.id,
                "user_id": f"user-{session.id}",
                "tenant_id": "tenant-a",
            }
        )
    return pl.DataFrame(rows)


INSERT = """
INSERT INTO spans (
    trace_id, span_id, batch_id, received_at, start_time, end_time, duration_ms, name, kind,
    status_code, service, is_model_call, is_usage_rollup, provider, operation, request_model,
    response_model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
    reasoning_tokens, feature, session_id, user_id, tenant_id
)
SELECT unhex(trace_id), unhex(span_id), batch_id, start_time + INTERVAL 2 SECOND, start_time,
       start_time + INTERVAL 2 SECOND, 2000.0, 'chat ' || model, 3, 1, 'agents', true, false,
       'openai', 'chat', model, model, input_tokens, output_tokens, 0, 0, 0, feature,
       session_id, user_id, tenant_id
FROM arrived;
INSERT INTO model_calls
SELECT unhex(trace_id), unhex(span_id), start_time, feature, session_id, user_id, tenant_id,
       NULL, NULL, batch_id
FROM arrived;
"""


def _write(cursor: duckdb.DuckDBPyConnection, frame: pl.DataFrame, now: dt.datetime) -> None:
    if frame.is_empty():
        return
    cursor.register("arrived", frame.to_arrow())
    cursor.begin()
    cursor.execute(INSERT)
    cursor.execute(
        "INSERT OR REPLACE INTO job_state VALUES ($name, $high, $now, 0, 0, 1, NULL)",
        {"name": attribution.NAME, "high": last_batch_id(cursor), "now": now},
    )
    cursor.commit()
    cursor.unregister("arrived")
    run_job(cursor, JOBS[pricing.NAME], now)


def _onset(session: Session, config: RunawayConfig, costs: dict[str, Decimal]) -> dt.datetime:
    """When the session's spans first make it a runaway by design (its onset call arrives):
    every runaway here is far beyond its peers' rate or spend, so that criterion holds once
    it has spent `min_spend_usd`; a loop's once it repeats; a budget's once it is spent."""
    spent = Decimal(0)
    budget = config.session_budget_usd or Decimal(0)
    for number, (start, model, tokens_in, tokens_out) in enumerate(session.calls, 1):
        spent += costs[f"{model}:{tokens_in}:{tokens_out}"]
        looping = number >= config.loop_repeats and spent >= config.loop_min_spend_usd
        if (
            spent >= config.min_spend_usd
            or (session.kind == "loop" and looping)
            or (session.kind == "budget" and spent >= budget)
        ):
            return start + ARRIVAL
    raise AssertionError(f"{session.id} never runs away")


def main(seed: int = 11) -> bool:
    rng = random.Random(seed)
    config = RunawayConfig(session_budget_usd=Decimal("5"))
    database = Database.open(Path(tempfile.mkdtemp(prefix="bench-runaway-")) / "s.duckdb")
    cursor = database.cursor()
    # Two days of peers, priced and rolled up by the real jobs.
    peers = [
        _ordinary(rng, f"peer-{n}", T0 - dt.timedelta(minutes=rng.uniform(10, 2880)))
        for n in range(240)
    ]
    _write(cursor, _rows(peers, 1, [(s, i) for s in peers for i in range(len(s.calls))]), T0)
    run_job(cursor, JOBS[rollups.NAME], T0)
    live = [
        _ordinary(rng, f"session-{n}", T0 + dt.timedelta(minutes=rng.uniform(0, 25)))
        for n in range(150)
    ]
    runaways = [
        _runaway(rng, kind, n, T0 + dt.timedelta(minutes=rng.uniform(0, 22)))
        for kind in ("loop", "burst", "budget")
        for n in range(4)
    ]
    sessions = live + runaways
    pending = sorted(
        ((s.calls[i][0] + ARRIVAL + PRICED, s, i) for s in sessions for i in range(len(s.calls))),
        key=lambda item: item[0],
    )
    tick, batch, position, times = T0, 2, 0, []
    by_id = {s.id: s for s in sessions}
    costs: dict[str, Decimal] = {}
    while tick <= T0 + dt.timedelta(minutes=MINUTES + 2):
        ready = []
        while position < len(pending) and pending[position][0] <= tick:
            ready.append((pending[position][1], pending[position][2]))
            position += 1
        _write(cursor, _rows(sessions, batch, ready), tick)
        batch += 1
        started = dt.datetime.now()
        for signal in runaway.detect(cursor, tick, config):
            session = by_id.get(signal.details["session_id"])
            if session is not None and session.detected is None:
                session.detected = tick
        times.append((dt.datetime.now() - started).total_seconds())
        tick += TICK
    for row in cursor.execute(
        "SELECT s.request_model || ':' || s.input_tokens || ':' || s.output_tokens, "
        "any_value(c.cost_usd) FROM spans s JOIN call_costs c USING (trace_id, span_id) "
        "GROUP BY 1"
    ).fetchall():
        costs[row[0]] = Decimal(row[1])
    database.close()
    ok = True
    for kind in ("loop", "burst", "budget"):
        mine = [s for s in runaways if s.kind == kind]
        delays = []
        for session in mine:
            session.onset = _onset(session, config, costs)
            if session.detected is not None:
                delays.append((session.detected - session.onset).total_seconds())
        missed = len(mine) - len(delays)
        worst = max(delays) if delays else float("nan")
        print(
            f"  {kind:6} runaways detected {len(delays)}/{len(mine)}: delay from onset "
            f"median {statistics.median(delays) if delays else float('nan'):.0f} s, "
            f"max {worst:.0f} s (target <= {TARGET_DELAY_S:.0f} s)"
        )
        ok = ok and not missed and worst <= TARGET_DELAY_S
    flagged = sum(1 for s in live if s.detected is not None)
    print(f"  ordinary sessions flagged: {flagged}/{len(live)}")
    print(
        f"  runaway detector run: median {statistics.median(times) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms over {len(times)} runs"
    )
    return ok and flagged == 0
