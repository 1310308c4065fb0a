"""How often the CI cost gate fails an unchanged suite, and how often it catches a change.

Records the example product's suite (sample_data/gate_example) with `spendscope gate record`:
main's version `3 + 2 x runs` times in one recording, the changed one `2 x runs` times. Each
repetition is a separate run of the suite (its own process, its own model outputs). The
first 3 repetitions are the base; each following pair is one head, as a CI job would record
it. Prints how many unchanged heads fail under the default policy (false alarms) and how
many changed ones do (caught): the figures docs/gate.md quotes.

    python -m bench.gate_noise --runs 20 [--change double-prompt]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from warehouse.gate.compare import compare_runs
from warehouse.gate.policy import Policy, Verdict, judge
from warehouse.gate.run import Run, read_run

SUITE = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "sample_data/gate_example"]
BASE_REPETITIONS = 3
HEAD_REPETITIONS = 2


def recorded(directory: Path, name: str, repeat: int, change: str = "") -> Run:
    output = directory / f"{name}.json"
    env = {**os.environ, "GATE_EXAMPLE_CHANGE": change}
    subprocess.run(
        [sys.executable, "-m", "collector", "gate", "record", "-o", str(output),
         "--repeat", str(repeat), "--", *SUITE],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return read_run(output)


def repetitions(run: Run, first: int, count: int) -> Run:
    """The run made of repetitions first .. first + count - 1 of `run`, renumbered from 1."""
    calls = [
        replace(call, repetition=call.repetition - first + 1)
        for call in run.calls
        if first <= call.repetition < first + count
    ]
    return replace(run, repetitions=count, calls=calls)


def failure_share(base: Run, heads: list[Run]) -> tuple[int, int]:
    policy = Policy()
    failed = 0
    for head in heads:
        verdicts = [judge(change, policy).verdict for change in compare_runs(base, head)]
        failed += Verdict.FAIL in verdicts
    return failed, len(heads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="heads of each kind (default 20)")
    parser.add_argument("--change", default="double-prompt", help="the changed suite's change")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as directory:
        total = BASE_REPETITIONS + HEAD_REPETITIONS * args.runs
        main_run = recorded(Path(directory), "main", total)
        changed_run = recorded(
            Path(directory), "changed", HEAD_REPETITIONS * args.runs, args.change
        )
    base = repetitions(main_run, 1, BASE_REPETITIONS)
    same = [
        repetitions(main_run, BASE_REPETITIONS + 1 + HEAD_REPETITIONS * n, HEAD_REPETITIONS)
        for n in range(args.runs)
    ]
    changed = [
        repetitions(changed_run, 1 + HEAD_REPETITIONS * n, HEAD_REPETITIONS)
        for n in range(args.runs)
    ]
    false_alarms, heads = failure_share(base, same)
    caught, changes = failure_share(base, changed)
    print(f"base: {BASE_REPETITIONS} repetitions; each head: {HEAD_REPETITIONS}; default policy")
    print(f"unchanged suite: {false_alarms} of {heads} heads failed (false alarms)")
    print(f"{args.change}: {caught} of {changes} heads failed (caught)")
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
