"""A second spend generator for the anomaly benchmark, with the world's quirks: the data the
detector is judged on, generated apart from `bench.anomaly`'s so a result that holds on one
generator only shows.

`generate(cursor, seed, ...)` writes `weeks` (10) of hourly spend into `rollup_hourly` and
returns the `World`: the injected incidents, their injected dollars per (incident, leaf,
hour), the leaves and the events. Everything is drawn from `seed`; tune on seeds 0-2 only,
report seeds 3-7 as held out.

The world (one leaf = feature x model x tenant; the watched series are built from the
leaves by the real series query):
- spend per feature lognormal over four orders of magnitude: a few large features, many
  tiny ones, and a tenant using a feature only now and then (sparse leaves);
- a daily profile per feature, smooth or business hours (9:00-18:00, a one-hour
  shoulder, 0.15 at night), a local
  time zone, a weekend dip; day-to-day level noise;
- heavy-tailed bursts: one leaf-hour in 200 with 1-3x the calls (Pareto), never an
  incident;
- organic growth up to 3x over the weeks;
- a fresh install: the spend starts at 09:00 on the first day (a partial first day);
- events: a holiday (a weekday at a fifth of its spend), a provider outage (ten hours
  near nothing), daylight saving (every daily pattern an hour later from one day on), a
  model's price cut by half (a legitimate drop), features launched mid-way;
- incidents on watched series (a feature, a feature's model, a tenant), drawn through a
  leaf picked in proportion to its spend: spikes (1-3 h, 3-10x calls), ramps (6-36 h to
  2-4x), level shifts (lasting, 1.8-3x; the first day counts), and cost-per-call
  incidents at a constant call count (a cache collapse plus longer prompts, 1.5-2.5x the
  cost per call for 6-72 h); a quarter of them recur on the series of an earlier one.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl

START = dt.datetime(2026, 9, 7)  # a Monday
WARMUP_HOURS = 2 * 168  # not evaluated: the baselines learn
INSTALLED = 9  # the first spend: spendscope installed at 09:00 on the first day
LEVEL_SHIFT_COUNTED_H = 24
# provider, model, price factor (input 2.5, cached input 0.25, output 10 USD per 1M tokens x it)
MODELS = (
    ("openai", "gpt-4o", 1.0),
    ("openai", "gpt-4o-mini", 0.06),
    ("anthropic", "claude-sonnet-4", 1.2),
    ("anthropic", "claude-haiku-3.5", 0.3),
)
PRICE_CUT_MODEL = 2  # claude-sonnet-4: its price halves at the price-cut event
INPUT, OUTPUT = 2000, 500  # tokens per call, usually
KINDS = ("spike", "ramp", "level_shift", "per_call")


@dataclass
class Incident:
    number: int
    kind: str  # one of KINDS
    target: str  # the watched series it hits, e.g. feature=feature-07
    leaves: frozenset[int]
    start: int  # hour index
    hours: int  # how long it lasts (a level shift: to the end)
    factor: float  # calls x (spike, ramp, level shift) or cost per call x (per_call)
    recurring: bool = False  # on the series of an earlier incident
    excess: float = 0.0  # injected USD (a level shift: its first day)


@dataclass(frozen=True)
class Event:
    name: str  # holiday, outage, daylight_saving, price_cut, launch
    start: int  # hour index
    hours: int  # how long it lasts (0: from then on)
    watch_hours: int  # false incidents starting this long after `start` are the event's
    target: str = ""  # a launch: the feature


@dataclass
class World:
    hours: int
    incidents: list[Incident]
    injected: pl.DataFrame  # incident, leaf, hour, extra (USD)
    leaves: pl.DataFrame  # leaf, feature, provider, model, tenant
    events: list[Event] = field(default_factory=list)


@dataclass
class _Leaf:
    feature: int
    model: int
    tenant: int
    usd: float  # at the profile's peak, before growth
    hit: float  # cache-hit share of input tokens
    first: int  # first hour (a launched feature starts late)
    sparse: float  # share of hours the leaf has any use at all


def _per_call(model: int, hit: float, tokens: float = 1.0) -> float:
    price = MODELS[model][2]
    tokens_in = INPUT * tokens
    return price * (tokens_in * (1 - hit) * 2.5e-6 + tokens_in * hit * 0.25e-6 + OUTPUT * 10e-6)


def _profiles(rng: random.Random, features: int, hours: int, dst: int) -> np.ndarray:
    """Per feature and hour: the daily x weekly profile (peak 1), in the feature's zone, an
    hour later from `dst` on, with day-to-day level noise."""
    out = np.empty((features, hours))
    utc = np.arange(hours)
    for f in range(features):
        zone = rng.choice((0, 0, 0, -5, -8, 1, 8))
        business = rng.random() < 0.4
        weekend = rng.uniform(0.15, 0.5) if business else rng.uniform(0.5, 0.95)
        local = utc + zone - (utc >= dst)  # daylight saving ends: local noon an hour later
        hod, day = local % 24, np.floor_divide(local, 24)
        if business:
            shoulder = (hod == 8) | (hod == 18)
            daily = np.where((hod >= 9) & (hod < 18), 1.0, np.where(shoulder, 0.5, 0.15))
        else:
            daily = 0.3 + 0.7 * np.maximum(0.0, np.sin(np.pi * (hod - 6) / 16))
        noise = np.exp(np.array([rng.gauss(0, 0.08) for _ in range(hours // 24 + 2)]))
        out[f] = daily * np.where(day % 7 >= 5, weekend, 1.0) * noise[np.clip(day, 0, None)]
    return out


def _leaves(rng: random.Random, features: int, tenants: int) -> list[_Leaf]:
    leaves = []
    launched = set(rng.sample(range(features), 3))
    for f in range(features):
        usd = math.exp(rng.gauss(0.3, 1.7))  # USD per hour at the peak
        first = rng.randrange(4 * 168, 8 * 168) if f in launched else 0
        models = rng.sample(range(len(MODELS)), rng.choice((1, 1, 2, 2, 3)))
        shares = [rng.uniform(0.2, 1.0) for _ in models]
        users = rng.sample(range(tenants), rng.randint(1, tenants))
        weights = [rng.paretovariate(1.3) for _ in users]
        hit = rng.uniform(0.3, 0.7)
        for m, share in zip(models, shares, strict=True):
            for t, weight in zip(users, weights, strict=True):
                part = usd * share / sum(shares) * weight / sum(weights)
                sparse = 1.0 if part > 0.5 or rng.random() < 0.5 else rng.uniform(0.2, 0.6)
                leaves.append(_Leaf(f, m, t, part, hit, first, sparse))
    return leaves


def _events(rng: random.Random) -> list[Event]:
    def weekday(low_week: int, high_week: int) -> int:
        return 24 * (7 * rng.randrange(low_week, high_week) + rng.randrange(0, 5))

    return [
        Event("holiday", weekday(3, 5), 24, 48),
        Event("outage", weekday(5, 7) + 10, 10, 48),
        Event("daylight_saving", 24 * rng.randrange(7 * 6, 7 * 8), 0, 3 * 168),
        Event("price_cut", 24 * rng.randrange(7 * 4, 7 * 8) + 8, 0, 168),
    ]


def _incident(
    rng: random.Random,
    number: int,
    leaves: list[_Leaf],
    usual: np.ndarray,
    names: list[dict[str, str]],
    earlier: list[Incident],
    hours: int,
) -> Incident:
    kind = rng.choices(KINDS, (0.35, 0.2, 0.15, 0.3))[0]
    start = rng.randrange(WARMUP_HOURS + 24, hours - 48)
    if earlier and rng.random() < 0.25:
        previous = rng.choice(earlier)
        target, members, recurring = previous.target, previous.leaves, True
    else:
        alive = np.array([leaf.first <= start - 168 for leaf in leaves])
        weights = np.where(alive, usual, 0.0)
        leaf = rng.choices(range(len(leaves)), weights.tolist())[0]
        dims = rng.choices((("feature",), ("feature", "model"), ("tenant",)), (0.5, 0.3, 0.2))[0]
        target = "|".join(f"{d}={names[leaf][d]}" for d in dims)
        members = frozenset(
            n for n, name in enumerate(names) if all(name[d] == names[leaf][d] for d in dims)
        )
        recurring = False
    if kind == "spike":
        length, factor = rng.randint(1, 3), rng.uniform(3, 10)
    elif kind == "ramp":
        length, factor = rng.randint(6, 36), rng.uniform(2, 4)
    elif kind == "level_shift":
        length, factor = hours - start, rng.uniform(1.8, 3)
    else:
        length, factor = rng.randint(6, 72), rng.uniform(1.5, 2.5)
    return Incident(number, kind, target, members, start, length, factor, recurring)


def _multiplier(incident: Incident, hours: int) -> np.ndarray:
    """The incident's factor per hour (1 outside it; a ramp rises to its factor)."""
    out = np.ones(hours)
    end = min(hours, incident.start + incident.hours)
    offset = np.arange(end - incident.start)
    if incident.kind == "ramp":
        out[incident.start : end] = 1 + (incident.factor - 1) * (offset + 1) / incident.hours
    else:
        out[incident.start : end] = incident.factor
    return out


@dataclass
class _Usage:
    """A leaf's hourly calls, cost, input tokens and cached input tokens (arrays)."""

    calls: np.ndarray
    cost: np.ndarray
    tokens_in: np.ndarray
    cached: np.ndarray


def _inject(
    incident: Incident,
    number: int,
    leaf: _Leaf,
    gen: np.random.Generator,
    lam: np.ndarray,
    cost_per_call: np.ndarray,
    usage: _Usage,
) -> pl.DataFrame:
    """Add the incident to leaf `number`'s usage; its injected USD per hour."""
    hours = len(lam)
    t = np.arange(hours)
    factor = _multiplier(incident, hours)
    hit = factor > 1
    if incident.kind == "per_call":
        extra = usage.cost * (factor - 1)
        # A cache collapse (a tenth of the hits left) plus longer prompts.
        collapsed = _per_call(leaf.model, leaf.hit * 0.1)
        longer = factor * _per_call(leaf.model, leaf.hit) / collapsed
        usage.cached = np.where(hit, usage.cached * 0.1 * longer, usage.cached)
        usage.tokens_in = np.where(hit, usage.tokens_in * longer, usage.tokens_in)
    else:
        extra_calls = gen.poisson(lam * np.maximum(factor - 1, 0))
        extra = extra_calls * cost_per_call
        usage.calls = usage.calls + extra_calls
        usage.tokens_in = usage.tokens_in + extra_calls * INPUT
        usage.cached = usage.cached + extra_calls * INPUT * leaf.hit
    usage.cost = usage.cost + extra
    counted = hit & (
        (t - incident.start < LEVEL_SHIFT_COUNTED_H) | (incident.kind != "level_shift")
    )
    incident.excess += float(extra[counted].sum())
    where = np.nonzero(hit & (extra > 0))[0]
    return pl.DataFrame(
        {"incident": incident.number, "leaf": number, "hour": where, "extra": extra[where]},
        schema={"incident": pl.Int64, "leaf": pl.Int64, "hour": pl.Int64, "extra": pl.Float64},
    )


def generate(
    cursor: duckdb.DuckDBPyConnection,
    seed: int,
    *,
    features: int = 60,
    tenants: int = 8,
    incidents: int = 100,
    weeks: int = 10,
) -> World:
    """Writes rollup_hourly (see the module docstring) and returns the world."""
    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    hours = weeks * 168
    events = _events(rng)
    dst = next(e.start for e in events if e.name == "daylight_saving")
    profiles = _profiles(rng, features, hours, dst)
    leaves = _leaves(rng, features, tenants)
    growth = [rng.choice((1.0, 1.3, 1.8, 3.0)) for _ in range(features)]  # over the weeks
    names = [
        {
            "feature": f"feature-{leaf.feature:02d}",
            "model": f"{MODELS[leaf.model][0]}/{MODELS[leaf.model][1]}",
            "tenant": f"tenant-{leaf.tenant}",
        }
        for leaf in leaves
    ]
    launches = {leaf.feature: leaf.first for leaf in leaves if leaf.first}
    events += [
        Event("launch", first, 0, 0, f"feature=feature-{f:02d}") for f, first in launches.items()
    ]
    usual = np.array([leaf.usd for leaf in leaves])
    chosen: list[Incident] = []
    for number in range(incidents):
        chosen.append(_incident(rng, number, leaves, usual, names, chosen, hours))
    by_leaf: dict[int, list[Incident]] = {}
    for incident in chosen:
        for member in incident.leaves:
            by_leaf.setdefault(member, []).append(incident)
    world = np.ones(hours)  # the holiday and the outage: every leaf
    for event in events:
        if event.name == "holiday":
            world[event.start : event.start + event.hours] = 0.2
        elif event.name == "outage":
            world[event.start : event.start + event.hours] = 0.03
    cut = next(e.start for e in events if e.name == "price_cut")
    t = np.arange(hours)
    frames, injected = [], []
    for number, leaf in enumerate(leaves):
        per_call = _per_call(leaf.model, leaf.hit)
        price = np.where((leaf.model == PRICE_CUT_MODEL) & (t >= cut), 0.5, 1.0)
        # A launch grows over 3 days; the others were there before the install (09:00).
        ramp_up = np.clip((t - leaf.first) / 72, 0.1, 1.0) if leaf.first else 1.0
        lam = (
            leaf.usd / _per_call(leaf.model, 0.5) * profiles[leaf.feature] * world * ramp_up
            * growth[leaf.feature] ** (t / hours)
        )  # fmt: skip
        lam = np.where(t >= max(leaf.first, INSTALLED), lam, 0.0)
        if leaf.sparse < 1:
            lam = np.where(gen.random(hours) < leaf.sparse, lam / leaf.sparse, 0.0)
        bursts = np.where(
            gen.random(hours) < 0.005, np.minimum(gen.pareto(3.0, hours) + 1, 3.0), 1.0
        )
        calls = gen.poisson(lam * bursts).astype(np.float64)
        cost_per_call = per_call * price * gen.lognormal(0, 0.25 / np.sqrt(np.maximum(calls, 1)))
        cost = calls * cost_per_call
        tokens_in = calls * INPUT
        cached = tokens_in * leaf.hit
        usage = _Usage(calls, cost, tokens_in, cached)
        for incident in by_leaf.get(number, []):
            injected.append(_inject(incident, number, leaf, gen, lam, cost_per_call, usage))
        calls, cost, tokens_in, cached = usage.calls, usage.cost, usage.tokens_in, usage.cached
        where = np.nonzero(calls > 0)[0]
        frames.append(
            pl.DataFrame(
                {
                    "leaf": number,
                    "hour": where,
                    "calls": calls[where].astype(np.int64),
                    "cost": cost[where],
                    "tokens_in": tokens_in[where].astype(np.int64),
                    "cached": cached[where].astype(np.int64),
                },
                schema_overrides={"leaf": pl.Int64, "hour": pl.Int64},
            )
        )
    leaf_frame = pl.DataFrame(
        {
            "leaf": list(range(len(leaves))),
            "feature": [n["feature"] for n in names],
            "provider": [MODELS[leaf.model][0] for leaf in leaves],
            "model": [MODELS[leaf.model][1] for leaf in leaves],
            "tenant": [n["tenant"] for n in names],
        }
    )
    spend = pl.concat(frames).with_columns(tokens_out=pl.col("calls") * OUTPUT)
    write_rollups(cursor, spend.join(leaf_frame, on="leaf"))
    return World(hours, chosen, pl.concat(injected), leaf_frame, events)


def write_rollups(cursor: duckdb.DuckDBPyConnection, spend: pl.DataFrame) -> None:
    """rollup_hourly rows from generated spend: hour (index from START), feature, provider,
    model, tenant, calls, cost, tokens_in, tokens_out, cached (input tokens read from the
    cache)."""
    at = pl.lit(START) + pl.duration(hours=pl.col("hour"))
    table = spend.select(
        hour=at,
        feature="feature",
        provider="provider",
        model="model",
        tenant_id="tenant",
        environment=pl.lit("prod"),
        agent_name=pl.lit(None, pl.String),
        calls="calls",
        unpriced_calls=pl.lit(0),
        error_calls=pl.lit(0),
        input_tokens="tokens_in",
        output_tokens="tokens_out",
        cache_read_tokens="cached",
        cache_write_tokens=pl.lit(0),
        reasoning_tokens=pl.lit(0),
        cost_usd=pl.col("cost").round(9),
        reported_cost_usd=pl.lit(None, pl.Float64),
        cache_savings_usd=pl.col("cached") * 2.25e-6,
        first_call_at=at,
        last_call_at=at + pl.duration(minutes=59),
    )
    cursor.register("generated", table.to_arrow())
    cursor.execute("INSERT INTO rollup_hourly SELECT * FROM generated")
    cursor.unregister("generated")
