"""When the sample product's sessions happen: weeks of history with a believable shape.

Business-hours traffic that is lighter at weekends, grows week over week, an hourly batch
job, and two incidents to find on the dashboard: a spend spike (a bad search deploy that
sent huge prompts to a frontier model for four hours, nine days ago) and a runaway support
agent session (three days ago). Deterministic for a seed and a window.

The detectors score the hour under way and the last complete one, not the past, so the
live demo starts with incidents of its own (`live_incidents`): the same bad deploy, gone out
an hour before, and an agent looping for the last few minutes.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

from sample_data.product import (
    CLASSIFICATION,
    PRODUCTION,
    SEARCH,
    SESSION_MIX,
    STAGING,
    STAGING_SHARE,
    SUPPORT,
)
from sample_data.traffic import Session

HOUR = dt.timedelta(hours=1)
WEEKDAY_FACTOR = (1.0, 1.05, 1.05, 1.0, 0.9, 0.45, 0.35)  # Monday first
SPIKE_DAYS_AGO = 9
SPIKE_HOURS = (13, 17)  # UTC, [from, to)
SPIKE_SEARCH_FACTOR = 3.0  # the deploy also retried every search
RUNAWAY_DAYS_AGO = 3
RUNAWAY_SESSION = "sess-runaway-7f3a"
# The live incidents: search sessions over the last hour on the bad deploy (about $18 of
# gpt-4o instead of a few cents of gpt-4o-mini), and an agent stuck in its tool loop.
LIVE_SPIKE_SESSIONS = 240
LIVE_SPIKE = dt.timedelta(hours=1)
LIVE_RUNAWAY = dt.timedelta(minutes=4)  # about the length of its 90 turns
LIVE_RUNAWAY_PREFIX = "sess-runaway-live-"


@dataclass(frozen=True)
class Shape:
    """The traffic's shape: sessions per hour at a weekday's peak at the end of the
    window, and the growth that makes earlier weeks smaller."""

    peak_sessions_per_hour: float = 30.0
    weekly_growth: float = 0.08

    def rate(self, at: dt.datetime, end: dt.datetime) -> float:
        hour = at.hour + at.minute / 60
        daily = 0.2 + 0.8 * math.exp(-(((hour - 14.0) / 4.5) ** 2))
        weeks_before_end = (end - at) / dt.timedelta(weeks=1)
        growth: float = (1 + self.weekly_growth) ** -weeks_before_end
        return self.peak_sessions_per_hour * WEEKDAY_FACTOR[at.weekday()] * daily * growth


def history(
    start: dt.datetime, end: dt.datetime, seed: int = 7, shape: Shape | None = None
) -> list[Session]:
    """Every session in [start, end), in time order."""
    shape = shape or Shape()
    rng = random.Random(f"history-{seed}")
    spike_day = (end - dt.timedelta(days=SPIKE_DAYS_AGO)).date()
    runaway_at = (end - dt.timedelta(days=RUNAWAY_DAYS_AGO)).replace(
        hour=10, minute=20, second=0, microsecond=0
    )
    sessions: list[Session] = []
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        spike = hour.date() == spike_day and SPIKE_HOURS[0] <= hour.hour < SPIKE_HOURS[1]
        for _ in range(_poisson(rng, shape.rate(hour + HOUR / 2, end))):
            feature = rng.choices(list(SESSION_MIX), weights=list(SESSION_MIX.values()))[0]
            sessions.append(_session(rng, feature, hour, spike and feature == SEARCH))
        if spike:  # the retries: extra search sessions
            for _ in range(_poisson(rng, shape.rate(hour, end) * SPIKE_SEARCH_FACTOR / 3)):
                sessions.append(_session(rng, SEARCH, hour, spike=True))
        batch_at = hour + dt.timedelta(minutes=5)
        sessions.append(
            Session(CLASSIFICATION, f"batch-{hour:%Y%m%d%H}", to_ns(batch_at), PRODUCTION)
        )
        if hour <= runaway_at < hour + HOUR:
            sessions.append(Session(SUPPORT, RUNAWAY_SESSION, to_ns(runaway_at), runaway=True))
        hour += HOUR
    sessions = [s for s in sessions if to_ns(start) <= s.start_ns < to_ns(end)]
    sessions.sort(key=lambda s: s.start_ns)
    return sessions


def live_incidents(now: dt.datetime, seed: int = 7, run: str = "") -> list[Session]:
    """The live demo's incidents, in time order: the spike's sessions over the hour before
    `now` (so whatever the minute, at least half of them fall in the last complete hour
    or in the hour under way) and the runaway, whose 90 turns end about `now`. `run` makes
    the session ids its own (a demo restarted within the minute sends new sessions)."""
    rng = random.Random(f"incidents-{seed}-{run}-{now:%Y%m%d%H%M}")
    sessions = []
    for _ in range(LIVE_SPIKE_SESSIONS):
        at = now - LIVE_SPIKE * rng.uniform(0.0, 1.0)
        session_id = f"sess-{at:%m%d%H%M}-{rng.getrandbits(24):06x}"
        sessions.append(Session(SEARCH, session_id, to_ns(at), spike=True))
    runaway_id = f"{LIVE_RUNAWAY_PREFIX}{now:%m%d%H%M}" + (f"-{run}" if run else "")
    sessions.append(Session(SUPPORT, runaway_id, to_ns(now - LIVE_RUNAWAY), runaway=True))
    sessions.sort(key=lambda s: s.start_ns)
    return sessions


def _session(rng: random.Random, feature: str, hour: dt.datetime, spike: bool = False) -> Session:
    at = hour + dt.timedelta(seconds=rng.uniform(0, 3599))
    environment = STAGING if rng.random() < STAGING_SHARE else PRODUCTION
    session_id = f"sess-{at:%m%d%H%M}-{rng.getrandbits(24):06x}"
    return Session(feature, session_id, to_ns(at), environment, spike=spike)


def to_ns(at: dt.datetime) -> int:
    return int(at.timestamp() * 1_000_000) * 1000


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: exact for the small means of one hour's sessions."""
    if mean <= 0:
        return 0
    if mean > 60:  # normal approximation, to keep exp(-mean) away from underflow
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
