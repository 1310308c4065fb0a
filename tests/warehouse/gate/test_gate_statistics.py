"""The gate's comparison, policy and report on runs built call by call: the parts add up to
the change, a doubling fails, noise passes, unknown cost is never $0, bad files and policies
are named."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

import pytest

from warehouse.gate import report
from warehouse.gate.compare import compare_runs
from warehouse.gate.policy import Policy, PolicyError, Thresholds, Verdict, judge, load_policy
from warehouse.gate.run import Call, Run, RunFileError, read_run, write_run

PER_TOKEN_IN = Decimal("0.0000025")
PER_TOKEN_OUT = Decimal("0.00001")


def call(
    repetition: int,
    input_tokens: int,
    output_tokens: int,
    *,
    path: str = "support.answer",
    model: str = "gpt-4o",
    rate: Decimal = Decimal(1),
    cached: int = 0,
    priced: bool = True,
) -> Call:
    savings = cached * PER_TOKEN_IN * Decimal("0.5") * rate
    input_usd, output_usd = input_tokens * PER_TOKEN_IN * rate, output_tokens * PER_TOKEN_OUT * rate
    return Call(
        repetition, path, "openai", model, input_tokens, output_tokens, cached,
        input_usd + output_usd - savings if priced else None, savings, input_usd, output_usd,
    )  # fmt: skip


def noisy_run(seed: int, repetitions: int = 3, prompt: int = 2000, **kwargs: object) -> Run:
    """Four calls a repetition, output lengths varying as a model's do."""
    rng = random.Random(seed)
    calls = [
        call(rep, prompt + rng.randint(-20, 20), max(5, int(rng.gauss(120, 30))), **kwargs)  # type: ignore[arg-type]
        for rep in range(1, repetitions + 1)
        for _ in range(4)
    ]
    return Run("ci", "abc", "main", dt.datetime(2026, 12, 7, tzinfo=dt.UTC), repetitions, [], calls)


def test_the_parts_add_up_to_the_change() -> None:
    base = noisy_run(1)
    head_calls = [
        call(1, 4000, 150, cached=1000, rate=Decimal("0.5")),
        call(1, 3900, 100, cached=1000, rate=Decimal("0.5")),
        call(1, 4000, 130, cached=2000, rate=Decimal("0.5"), model="gpt-4o-mini"),
    ]
    head = Run("ci", "def", "pr", base.recorded_at, 1, [], head_calls)
    (change,) = compare_runs(base, head)
    assert change.change_per_run is not None
    assert sum(change.parts.values()) == pytest.approx(change.change_per_run, rel=1e-9)
    assert change.parts["calls"] < 0  # 3 calls instead of 4
    assert change.parts["tokens"] > 0  # about twice the input
    assert change.parts["price"] < 0  # half the price per token
    assert change.parts["cache"] < 0  # cache reads now save money
    assert change.models[0].model in ("gpt-4o", "gpt-4o-mini")


def test_a_longer_prompt_is_tokens_not_price() -> None:
    base, head = noisy_run(1), noisy_run(2, prompt=4000)
    parts = compare_runs(base, head)[0].parts
    assert parts["tokens"] > 0 and parts["calls"] == 0 and parts["cache"] == 0
    assert abs(parts["price"]) < 1e-12


def test_a_doubled_prompt_fails_and_noise_passes() -> None:
    base = noisy_run(1)
    policy = Policy()
    doubled = compare_runs(base, noisy_run(2, prompt=4000))[0]
    assert judge(doubled, policy).verdict is Verdict.FAIL
    assert doubled.interval_pct is not None and doubled.interval_pct[0] > 10
    for seed in range(2, 22):
        same = compare_runs(base, noisy_run(seed))[0]
        assert judge(same, policy).verdict is Verdict.PASS, same


def test_one_repetition_each_resamples_calls() -> None:
    base, head = noisy_run(1, repetitions=1), noisy_run(2, repetitions=1, prompt=4000)
    change = compare_runs(base, head)[0]
    assert change.interval_pct is not None
    low, high = change.interval_pct
    assert 10 < low < change.change_pct < high  # type: ignore[operator]
    assert compare_runs(base, head)[0].interval_pct == change.interval_pct  # seeded


def test_a_cheaper_model_passes_with_the_saving_reported() -> None:
    base = noisy_run(1)
    cheaper = noisy_run(2, rate=Decimal("0.06"), model="gpt-4o-mini")
    judged = [judge(change, Policy()) for change in compare_runs(base, cheaper)]
    assert judged[0].verdict is Verdict.PASS
    assert judged[0].change.change_pct is not None and judged[0].change.change_pct < -80
    assert report.exit_code(judged, Policy()) == 0
    assert "gpt-4o-mini" in report.markdown(base, cheaper, judged, Policy())


def test_unpriced_calls_are_not_zero_dollars() -> None:
    base = noisy_run(1)
    head = noisy_run(2, priced=False, model="house-model-7")
    judged = [judge(change, Policy()) for change in compare_runs(base, head)]
    assert judged[0].verdict is Verdict.UNPRICED
    assert judged[0].change.head is not None and judged[0].change.head.cost_per_run is None
    assert report.exit_code(judged, Policy()) == 2
    text = report.markdown(base, head, judged, Policy())
    assert "unpriced" in text and "$0 " not in text


def test_thresholds_in_dollars_and_per_month_let_small_increases_pass() -> None:
    base, doubled = noisy_run(1), noisy_run(2, prompt=4000)
    change = compare_runs(base, doubled)[0]
    generous = Policy(Thresholds(max_increase_usd_per_run=1.0))
    assert judge(change, generous).verdict is Verdict.PASS
    monthly = Policy(Thresholds(max_increase_usd_per_month=100, monthly_cost_usd=50))
    assert judge(change, monthly).verdict is Verdict.PASS  # 50 x ~+90% < 100
    costly = Policy(Thresholds(max_increase_usd_per_month=100, monthly_cost_usd=5000))
    verdict = judge(change, costly)
    assert verdict.verdict is Verdict.FAIL and "per month" in verdict.reason
    warn = Policy(warn_only=True)
    assert report.exit_code([judge(change, warn)], warn) == 0


def test_new_and_removed_paths_are_reported_not_failed() -> None:
    base = noisy_run(1, path="a")
    head = noisy_run(2, path="b")
    verdicts = {c.path: judge(c, Policy()).verdict for c in compare_runs(base, head)}
    assert verdicts == {"a": Verdict.REMOVED, "b": Verdict.NEW}


def test_run_files_round_trip_and_bad_ones_are_named(tmp_path: Path) -> None:
    run = noisy_run(1)
    path = tmp_path / "run.json"
    write_run(run, path)
    assert read_run(path) == run
    with pytest.raises(RunFileError, match="no such run file"):
        read_run(tmp_path / "missing.json")
    (tmp_path / "torn.json").write_text(path.read_text()[:200])
    with pytest.raises(RunFileError, match=r"torn\.json: not a run file"):
        read_run(tmp_path / "torn.json")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(RunFileError, match="expected format"):
        read_run(tmp_path / "other.json")
    bad = path.read_text().replace('"input_tokens": ', '"input_tokens": "many", "x": ', 1)
    (tmp_path / "bad.json").write_text(bad)
    with pytest.raises(RunFileError, match="call 0 is malformed"):
        read_run(tmp_path / "bad.json")


def test_policy_files_are_checked(tmp_path: Path) -> None:
    good = tmp_path / "spendscope-gate.toml"
    good.write_text(
        "[gate]\nmax_increase_pct = 5\nconfidence = 0.9\n\n"
        '[paths."support.answer"]\nmax_increase_pct = 20\nmonthly_cost_usd = 1200\n'
    )
    policy = load_policy(good)
    assert policy.confidence == 0.9
    assert policy.for_path("other").max_increase_pct == 5
    assert policy.for_path("support.answer") == Thresholds(20, None, None, 1200)
    for text, message in (
        ("[gate]\nmax_increase = 5\n", "unknown key"),
        ("[gate]\nmax_increase_pct = 'ten'\n", "must be a number"),
        ("[gate]\nconfidence = 1.5\n", "confidence"),
        ("[gates]\n", "unknown section"),
        ("[gate\n", "not a TOML file"),
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(PolicyError, match=message):
            load_policy(bad)
