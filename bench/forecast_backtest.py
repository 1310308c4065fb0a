"""The month-end forecast's 80 % prediction interval, backtested: how often it holds the
month's actual total, how wide it is, and the same for a plain flat run rate.

    .venv/bin/python -m bench.forecast_backtest [--seeds 3,4,5,6,7] [--tune] [--world-seeds 3,4]

Three histories, each forecast from every day of each complete month at noon, from the 14
complete days before (`sample_data.harness.forecast_world.backtest`):
- `demo-like`: the demo's shape (weekday factors, 8 % weekly growth), noise, incident days;
- `quirky`: holidays, an outage, growth up to 3x, a price cut, a launch;
- `world`: `bench.anomaly_world`'s hourly spend (30 features, 50 incidents, daylight saving,
  a holiday, an outage, a price cut, launches) written into a migrated warehouse and read
  back by the real `warehouse.forecast.spend_forecast` (the API's path) at each noon.
The baseline (`flat_run_rate`): the last 7 days' mean per day for the rest of the month,
+- 1.2816 x their standard deviation x sqrt(days left).

Seeds 0-2 tuned the interval on the demo-like and quirky histories (`--tune` shows them);
the figures reported are 3-7 (world: 3-4), held out. Target: the 80 % interval's coverage
within 0.70-0.95 on the held-out seeds of the demo-like and quirky histories (pooled); the
world is a stress test, reported without a target: its 50 injected incidents include
lasting 1.8-3x level shifts no forecast made before them can know of. Exits 1 when missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path

from bench import anomaly_world
from sample_data.harness.forecast_world import (
    Forecaster,
    Score,
    backtest,
    demo_like,
    flat_run_rate,
    quirky,
)
from warehouse.forecast import month_end_forecast, spend_forecast
from warehouse.forecast.spend import HISTORY_DAYS, daily_costs
from warehouse.store.database import Database

TARGET = (0.70, 0.95)


def spendscope(
    so_far: Decimal, recent: Mapping[dt.date, Decimal], now: dt.datetime
) -> tuple[Decimal, ...] | None:
    found = month_end_forecast(so_far, recent, now)
    return None if found is None else (found.total, found.low, found.high)


FORECASTERS: dict[str, Forecaster] = {"spendscope": spendscope, "flat run rate": flat_run_rate}


def pooled(scores: list[Score]) -> Score:
    count = sum(s.forecasts for s in scores)
    if not count:
        return Score(0, float("nan"), float("nan"), float("nan"))

    def mean(field: str) -> float:
        return sum(float(getattr(s, field)) * s.forecasts for s in scores) / count

    return Score(count, mean("coverage"), mean("mean_width"), mean("mean_abs_error"))


def world_scores(seeds: list[int]) -> dict[str, list[Score]]:
    """The real read path: anomaly_world's rollups in a warehouse, `spend_forecast` at noon
    each day of each complete month (the baseline from the same daily costs)."""
    result: dict[str, list[Score]] = {name: [] for name in FORECASTERS}
    with tempfile.TemporaryDirectory(prefix="bench-forecast-") as folder:
        database = Database.open(Path(folder) / "spendscope.duckdb")
        cursor = database.cursor()
        for seed in seeds:
            cursor.execute("DELETE FROM rollup_hourly")
            anomaly_world.generate(cursor, seed, weeks=14, features=30, incidents=50)
            first = anomaly_world.START
            last = first + dt.timedelta(weeks=14)
            days = daily_costs(cursor, first, last, {})
            real = _through_the_warehouse(cursor)
            result["spendscope"].append(backtest(days, real))
            result["flat run rate"].append(backtest(days, flat_run_rate))
        database.close()
    return result


def _through_the_warehouse(cursor: object) -> Forecaster:
    """A forecaster that ignores the harness's inputs and asks the warehouse at `now`, as
    the API does (the month so far to the end of the hour under way, its own history)."""

    def forecast(
        so_far: Decimal, recent: Mapping[dt.date, Decimal], now: dt.datetime
    ) -> tuple[Decimal, ...] | None:
        _, found = spend_forecast(cursor, now)  # type: ignore[arg-type]
        return None if found is None else (found.total, found.low, found.high)

    return forecast


def _line(history: str, name: str, score: Score) -> str:
    return (
        f"  {history:<10} {name:<14} coverage {score.coverage:6.1%}  mean width "
        f"{score.mean_width:6.1%}  mean abs error {score.mean_abs_error:6.1%}  "
        f"({score.forecasts} forecasts)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seeds", default="3,4,5,6,7")
    parser.add_argument("--world-seeds", default="3,4")
    parser.add_argument("--tune", action="store_true", help="seeds 0-2 (tuning) instead")
    args = parser.parse_args(argv)
    seeds = [0, 1, 2] if args.tune else [int(s) for s in args.seeds.split(",")]
    world = [0, 1, 2] if args.tune else [int(s) for s in args.world_seeds.split(",")]
    started = time.perf_counter()
    generators: dict[str, Callable[[int], Mapping[dt.date, Decimal]]] = {
        "demo-like": demo_like,
        "quirky": lambda seed: quirky(seed)[0],
    }
    failures = []
    print(
        f"80% interval of the month-end forecast, {HISTORY_DAYS} days of history, "
        f"seeds {seeds} ({'tuning' if args.tune else 'held out'}); world seeds {world}"
    )
    results: dict[str, dict[str, list[Score]]] = {}
    for history, generate in generators.items():
        series = [generate(seed) for seed in seeds]
        results[history] = {
            name: [backtest(days, forecaster) for days in series]
            for name, forecaster in FORECASTERS.items()
        }
    results["world"] = world_scores(world)
    for history, by_name in results.items():
        for name, scores in by_name.items():
            score = pooled(scores)
            print(_line(history, name, score))
            held = name == "spendscope" and history != "world"
            if held and not TARGET[0] <= score.coverage <= TARGET[1]:
                failures.append(f"{history}: coverage {score.coverage:.1%}")
        per_seed = ", ".join(f"{s.coverage:.0%}" for s in by_name["spendscope"])
        print(f"  {'':<10} per seed (spendscope): {per_seed}")
    print(f"({time.perf_counter() - started:.0f} s)")
    print("FAILED: " + ", ".join(failures) if failures else "target met")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
