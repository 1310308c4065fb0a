"""The CI cost gate end to end: the example product's test suite (sample_data/gate_example:
OpenLLMetry on the real `openai` client, calling a loopback model) recorded by `spendscope
gate record`, which runs it against a real spendscope of its own, then judged by `spendscope
gate compare`: a doubled prompt fails, a cheaper model passes with its saving, the unchanged
suite passes; bad input exits 2 with one clear line; a server keeps runs and compares them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sample_data.harness.server import ServerProcess
from tests.dashboard.test_dashboard import run_page
from tests.support.paths import REPO
from warehouse.gate.run import Run, read_run, write_run

# Four recordings of a suite in subprocesses: a minute and a half on a quiet machine.
pytestmark = pytest.mark.timeout(1200)

SUITE = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "sample_data/gate_example"]
ADMIN, ACME = "admin-token", "acme-token"


def spendscope(*args: str, change: str = "", cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATE_EXAMPLE_CHANGE": change}
    for key in [key for key in env if key.startswith(("SPENDSCOPE_", "OTEL_"))]:
        del env[key]
    return subprocess.run(
        [sys.executable, "-m", "collector", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def record(tmp: Path, name: str, change: str = "", repeat: int = 2) -> Path:
    output = tmp / f"{name}.json"
    done = spendscope(
        "gate", "record", "-o", str(output), "--label", name, "--repeat", str(repeat),
        "--", *SUITE, change=change,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"-> {output}" in done.stdout
    return output


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("gate")
    return {
        "base": record(tmp, "base", repeat=3),
        "same": record(tmp, "same"),
        "double": record(tmp, "double", "double-prompt"),
        "cheaper": record(tmp, "cheaper", "cheaper-model"),
    }


def compare(runs: dict[str, Path], head: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return spendscope(
        "gate", "compare", "--base", str(runs["base"]), "--head", str(runs[head]), *extra
    )


def test_a_recording_holds_every_call_priced_with_its_path(runs: dict[str, Path]) -> None:
    base = read_run(runs["base"])
    assert base.repetitions == 3
    # Per repetition: four answers (gpt-4o) and one summary (gpt-4o-mini).
    assert len(base.calls) == 15
    assert {(c.path, c.model) for c in base.calls} == {
        ("support.answer", "gpt-4o"),
        ("support.summarize", "gpt-4o-mini"),
    }
    assert sorted({c.repetition for c in base.calls}) == [1, 2, 3]
    assert all(c.cost_usd is not None and c.cost_usd > 0 for c in base.calls)
    # The stub caches the repeated system prompt, as OpenAI does: spendscope prices the reads.
    assert any(c.cache_read_tokens and c.cache_savings_usd > 0 for c in base.calls)


def test_a_doubled_prompt_fails_the_gate(runs: dict[str, Path], tmp_path: Path) -> None:
    comment = tmp_path / "comment.md"
    done = compare(runs, "double", "--format", "markdown", "--output", str(comment))
    assert done.returncode == 1, done.stdout + done.stderr
    text = comment.read_text()
    assert text.startswith("<!-- spendscope-gate -->")
    assert "❌ fail | support.answer" in text and "✅ pass | support.summarize" in text
    assert "What changed, $ per run: calls +$0, tokens +$" in text


def test_a_cheaper_model_passes_with_its_saving(runs: dict[str, Path]) -> None:
    done = compare(runs, "cheaper", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    answer = next(p for p in result["paths"] if p["path"] == "support.answer")
    assert answer["verdict"] == "pass"
    assert answer["change_pct"] < -80 and answer["interval_pct"][1] < 0
    assert answer["parts"]["price"] < 0
    assert "cheaper, saving $" in result["summary"]


def test_the_unchanged_suite_passes(runs: dict[str, Path]) -> None:
    done = compare(runs, "same")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "within the policy" in done.stdout


def test_warn_only_reports_without_failing(runs: dict[str, Path], tmp_path: Path) -> None:
    policy = tmp_path / "spendscope-gate.toml"
    policy.write_text("[gate]\nwarn_only = true\n")
    done = compare(runs, "double", "--policy", str(policy))
    assert done.returncode == 0 and "warn-only" in done.stdout


def test_bad_input_exits_2_with_one_clear_line(runs: dict[str, Path], tmp_path: Path) -> None:
    base = read_run(runs["base"])
    empty = tmp_path / "empty.json"
    write_run(Run(base.label, None, None, base.recorded_at, 1), empty)
    unpriced = tmp_path / "unpriced.json"
    calls = [
        c.__class__(**{**vars(c), "model": "house-model-7", "cost_usd": None}) for c in base.calls
    ]
    write_run(Run("unpriced", None, None, base.recorded_at, 3, [], calls), unpriced)
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text(runs["base"].read_text()[:100])
    for head, message in (
        (tmp_path / "missing.json", "no such run file"),
        (corrupt, "not a run file"),
        (empty, "holds no model call"),
    ):
        done = spendscope("gate", "compare", "--base", str(runs["base"]), "--head", str(head))
        assert done.returncode == 2, done.stdout + done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    done = spendscope("gate", "compare", "--base", str(runs["base"]), "--head", str(unpriced))
    assert done.returncode == 2
    assert "unpriced" in done.stdout and "$0 " not in done.stdout


def test_a_command_that_sends_nothing_records_an_empty_run(tmp_path: Path) -> None:
    output = tmp_path / "nothing.json"
    done = spendscope("gate", "record", "-o", str(output), "--", sys.executable, "-c", "pass")
    assert done.returncode == 0, done.stderr
    assert "no model call arrived" in done.stderr
    assert read_run(output).calls == []
    failing = spendscope("gate", "record", "-o", str(output), "--", sys.executable, "-c", "exit(3)")
    assert failing.returncode == 3 and output.exists()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"SPENDSCOPE_API_TOKENS": ADMIN, "SPENDSCOPE_TENANT_TOKENS": f"acme:{ACME}"}
    with ServerProcess(tmp_path_factory.mktemp("gate-server"), env) as served:
        yield served


def test_a_server_keeps_runs_and_compares_them(
    runs: dict[str, Path], server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = {}
    for name in ("base", "double"):
        posted = server.client.post(
            f"{server.http_url}/api/v1/gate/runs",
            content=runs[name].read_bytes(),
            headers={**server.auth_headers(), "content-type": "application/json"},
        )
        assert posted.status_code == 200, posted.text
        ids[name] = posted.json()["id"]
    listed = server.get("/api/v1/gate/runs", branch=read_run(runs["base"]).branch).json()
    assert [run["id"] for run in listed["runs"]][:2] == [ids["double"], ids["base"]]
    result = server.get("/api/v1/gate/compare", base=ids["base"], head=ids["double"]).json()
    assert result["exit_code"] == 1
    done = spendscope(
        "gate", "compare", "--base", f"run:{ids['base']}", "--head", f"run:{ids['double']}",
        "--server", server.http_url, "--token", ADMIN,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    # Production traffic of the same feature on the server: its month prices the change.
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": server.http_url, "GATE_EXAMPLE_CHANGE": ""}
    subprocess.run(SUITE, cwd=REPO, env=env, check=True, capture_output=True, timeout=300)
    server.wait_attributed(timeout=120)
    done = spendscope(
        "gate", "compare", "--base", str(runs["base"]), "--head", str(runs["double"]),
        "--server", server.http_url, "--token", ADMIN, "--format", "json",
    )  # fmt: skip
    monthly = {p["path"]: p["monthly_change_usd"] for p in json.loads(done.stdout)["paths"]}
    assert monthly["support.answer"] > 0 and monthly["support.summarize"] is None
    # The dashboard's page compares the newest run with main's newest: the same verdicts.
    page = run_page("gate", server.http_url, monkeypatch, ADMIN)
    listed_runs = page.dataframe[0].value.to_dict("records")
    assert {run["id"] for run in listed_runs} == set(ids.values())
    shown = {row["path"]: row["verdict"] for row in page.dataframe[1].value.to_dict("records")}
    assert shown == {"support.answer": "❌ fail", "support.summarize": "✅ pass"}
    scoped = server.client.get(
        f"{server.http_url}/api/v1/gate/runs", headers={"Authorization": f"Bearer {ACME}"}
    )
    assert scoped.status_code == 403
    bad = server.client.post(
        f"{server.http_url}/api/v1/gate/runs",
        json={"format": "nope"},
        headers=server.auth_headers(),
    )
    assert bad.status_code == 422 and "expected format" in bad.text


def _export_line(number: int, path: str) -> str:
    """One OTLP/JSON export request of one chat span, as a file exporter writes it."""
    attributes = {
        "spendscope.path": path,
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 100,
    }
    values = [
        {"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}
        for k, v in attributes.items()
    ]
    span = {
        "traceId": f"{number:032x}", "spanId": f"{number:016x}", "name": "chat gpt-4o",
        "kind": 3, "startTimeUnixNano": "1767225600000000000",
        "endTimeUnixNano": "1767225601000000000", "attributes": values,
    }  # fmt: skip
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})


def test_spans_exported_to_a_file_make_a_run(tmp_path: Path) -> None:
    exported = tmp_path / "spans.jsonl"
    exported.write_text(f"{_export_line(1, 'offline.path')}\n\n{_export_line(2, 'offline.path')}\n")
    output = tmp_path / "loaded.json"
    done = spendscope("gate", "load", str(exported), "-o", str(output))
    assert done.returncode == 0, done.stdout + done.stderr
    calls = read_run(output).calls
    # gpt-4o at $2.50 / $10 per million tokens: 1,000 in and 100 out cost $0.0035.
    assert [(c.path, str(c.cost_usd)) for c in calls] == [("offline.path", "0.0035")] * 2
    broken = tmp_path / "broken.jsonl"
    broken.write_text(_export_line(3, "x") + "\n{not json\n")
    done = spendscope("gate", "load", str(broken), "-o", str(tmp_path / "no.json"))
    assert done.returncode == 2 and f"{broken}:2: not an OTLP/JSON export request" in done.stderr
    assert "Traceback" not in done.stderr
