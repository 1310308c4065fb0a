"""The gate's result for people and machines: a Markdown pull-request comment, JSON, and the
rows a terminal table shows. The exit code follows the verdicts: 1 when a path fails (0 in
warn-only mode), 2 when a path could not be compared (unpriced calls) or nothing was."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from warehouse.gate.compare import PathChange, PathStats
from warehouse.gate.policy import Judged, Policy, Verdict, money
from warehouse.gate.run import Run

# The marker a CI step finds to update its comment in place instead of adding one.
COMMENT_MARKER = "<!-- spendscope-gate -->"
PARTS = ("calls", "tokens", "price", "cache")
ICONS = {
    Verdict.PASS: "✅",
    Verdict.FAIL: "❌",
    Verdict.NEW: "🆕",
    Verdict.REMOVED: "🗑️",
    Verdict.UNPRICED: "⚠️",
}


def exit_code(judged: list[Judged], policy: Policy) -> int:
    if not judged:
        return 2
    if any(item.verdict is Verdict.FAIL for item in judged) and not policy.warn_only:
        return 1
    if any(item.verdict is Verdict.UNPRICED for item in judged):
        return 2
    return 0


def summary(judged: list[Judged], policy: Policy) -> str:
    failed = [item.change.path for item in judged if item.verdict is Verdict.FAIL]
    unpriced = [item.change.path for item in judged if item.verdict is Verdict.UNPRICED]
    if not judged:
        return "Nothing to compare: neither run holds a model call."
    words = []
    if failed:
        mode = " (warn-only: not failing the build)" if policy.warn_only else ""
        words.append(f"{len(failed)} path(s) got costlier beyond the policy{mode}")
    if unpriced:
        words.append(f"{len(unpriced)} path(s) not compared: unpriced calls")
    cheaper = [
        item.change
        for item in judged
        if item.change.interval_pct is not None and item.change.interval_pct[1] < 0
    ]
    saving = -sum(change.change_per_run or 0.0 for change in cheaper)
    if not words:
        words.append(f"All {len(judged)} path(s) within the policy")
    if cheaper:
        words.append(f"{len(cheaper)} path(s) cheaper, saving {money(saving)} per run")
    return "; ".join(words) + "."


def percent(change: PathChange) -> str:
    if change.change_pct is None:
        return "n/a"
    text = f"{change.change_pct:+.1f}%"
    if change.interval_pct is not None:
        low, high = change.interval_pct
        text += f" [{low:+.1f}%, {high:+.1f}%]"
    return text


def path_rows(judged: list[Judged]) -> list[list[str]]:
    """One row a path: verdict, path, base and head $/run, change [interval], $/month."""
    rows = []
    for item in judged:
        change = item.change
        rows.append(
            [
                f"{ICONS[item.verdict]} {item.verdict.value}",
                change.path,
                money(change.base.cost_per_run) if change.base else "-",
                money(change.head.cost_per_run) if change.head else "-",
                percent(change),
                money(item.monthly_change_usd, signed=True)
                if item.monthly_change_usd is not None
                else "-",
            ]
        )
    return rows


HEADERS = ["verdict", "path", "base $/run", "head $/run", "change [interval]", "$/month"]


def markdown(base: Run, head: Run, judged: list[Judged], policy: Policy) -> str:
    """The pull-request comment: the verdict, every path, and what changed where one fails."""
    lines = [
        COMMENT_MARKER,
        "## spendscope cost gate",
        "",
        f"**{summary(judged, policy)}**",
        "",
        f"Base `{_run_name(base)}` ({base.repetitions} run(s)), head `{_run_name(head)}` "
        f"({head.repetitions} run(s)); interval: {policy.confidence:.0%} bootstrap.",
        "",
        _table(HEADERS, path_rows(judged)),
    ]
    for item in judged:
        if item.verdict in (Verdict.FAIL, Verdict.UNPRICED) or _significant(item.change):
            lines += ["", *_detail(item)]
    return "\n".join(lines) + "\n"


def _significant(change: PathChange) -> bool:
    """A change beyond the noise, either way: its interval excludes zero."""
    interval = change.interval_pct
    return interval is not None and (interval[0] > 0 or interval[1] < 0)


def _detail(item: Judged) -> list[str]:
    change = item.change
    lines = [f"### `{change.path}`: {item.reason}", ""]
    lines.append(
        _table(
            ["", "base", "head"],
            [
                [label, _stat(change.base, key), _stat(change.head, key)]
                for label, key in (
                    ("calls per run", "calls_per_run"),
                    ("$ per call", "cost_per_call"),
                    ("input tokens per call", "input_tokens_per_call"),
                    ("cached input tokens per call", "cache_read_tokens_per_call"),
                    ("output tokens per call", "output_tokens_per_call"),
                    ("model mix", "model_mix"),
                    ("unpriced calls", "unpriced_calls"),
                )
            ],
        )
    )
    if change.parts:
        lines += ["", "What changed, $ per run: " + ", ".join(_parts(change))]
    if change.models:
        lines += ["", "Top changed calls (by model):", ""]
        rows = [
            [
                f"`{model.model}`",
                money(model.base_cost_per_run),
                money(model.head_cost_per_run),
                money(model.change, signed=True),
            ]
            for model in change.models[:5]
        ]
        lines.append(_table(["model", "base $/run", "head $/run", "change"], rows))
    return lines


def _parts(change: PathChange) -> list[str]:
    return [f"{name} {money(change.parts[name], signed=True)}" for name in PARTS]


def _stat(stats: PathStats | None, key: str) -> str:
    if stats is None:
        return "-"
    value = getattr(stats, key)
    if key == "model_mix":
        return ", ".join(f"{model} {share:.0%}" for model, share in value.items())
    if key == "cost_per_call":
        return money(value)
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _run_name(run: Run) -> str:
    return " ".join(part for part in (run.label, run.branch, (run.commit or "")[:12]) if part)


def as_json(base: Run, head: Run, judged: list[Judged], policy: Policy) -> dict[str, Any]:
    return {
        "exit_code": exit_code(judged, policy),
        "summary": summary(judged, policy),
        "warn_only": policy.warn_only,
        "confidence": policy.confidence,
        "base": _run_meta(base),
        "head": _run_meta(head),
        "paths": [
            {
                "path": item.change.path,
                "verdict": item.verdict.value,
                "reason": item.reason,
                "monthly_change_usd": item.monthly_change_usd,
                **{key: value for key, value in asdict(item.change).items() if key != "path"},
            }
            for item in judged
        ],
    }


def _run_meta(run: Run) -> dict[str, Any]:
    return {
        "label": run.label,
        "commit": run.commit,
        "branch": run.branch,
        "recorded_at": run.recorded_at.isoformat(),
        "repetitions": run.repetitions,
        "calls": len(run.calls),
    }
