"""The CI cost gate: the runs recordings posted (`spendscope gate record --server`), and the
comparison of two of them per critical path, as `spendscope gate compare` reports it."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.api import ApiForbidden
from dashboard.page import Page, PageContext
from dashboard.states import filters_do_not_apply, not_allowed

NO_RUNS = (
    "No gate run yet. Record a test suite's model calls and keep them here with "
    "`spendscope gate record --server <this service> -- pytest ...` (docs/gate.md)."
)
VERDICTS = {"pass": "✅ pass", "fail": "❌ fail", "new": "🆕 new", "removed": "removed",
            "unpriced": "⚠️ unpriced"}  # fmt: skip


def render(context: PageContext) -> None:
    st.title("CI cost gate")
    filters_do_not_apply(context.filters, "Gate runs are the organisation's CI")
    try:
        runs = context.api.gate_runs()["runs"]
    except ApiForbidden as exc:
        not_allowed(exc, "Gate runs are the organisation's CI: this token may not read them.")
        return
    if not runs:
        st.info(NO_RUNS)
        return
    st.dataframe(
        [{**run, "commit": (run["commit"] or "")[:12]} for run in runs],
        hide_index=True,
        column_order=["id", "label", "branch", "commit", "recorded_at", "repetitions", "calls"],
    )
    if len(runs) < 2:
        st.caption("Two runs are needed for a comparison.")
        return
    names = {run["id"]: _name(run) for run in runs}
    ids = list(names)
    left, right = st.columns(2)
    base = left.selectbox("Base", ids, index=_main_index(runs), format_func=names.__getitem__)
    head = right.selectbox("Head", ids, index=0, format_func=names.__getitem__)
    if base == head:
        st.caption("Choose two different runs.")
        return
    _comparison(context.api.gate_compare(base, head))


def _name(run: dict[str, Any]) -> str:
    parts = [f"#{run['id']}", run["label"], run["branch"] or "", (run["commit"] or "")[:8]]
    return " ".join(part for part in parts if part)


def _main_index(runs: list[dict[str, Any]]) -> int:
    """Against the newest run (the head), the newest other run of main (or master), else
    the second newest."""
    for index, run in enumerate(runs[1:], start=1):
        if run["branch"] in ("main", "master"):
            return index
    return 1


def _comparison(result: dict[str, Any]) -> None:
    st.subheader(result["summary"])
    st.dataframe(
        [
            {
                "verdict": VERDICTS[path["verdict"]],
                "path": path["path"],
                "base $/run": _cost(path["base"]),
                "head $/run": _cost(path["head"]),
                "change %": path["change_pct"],
                "interval %": _interval(path["interval_pct"]),
                "why": path["reason"],
                **{f"{part} $": path["parts"].get(part) for part in PARTS},
            }
            for path in result["paths"]
        ],
        hide_index=True,
        column_config={"change %": st.column_config.NumberColumn(format="%+.1f%%")},
    )


PARTS = ("calls", "tokens", "price", "cache")


def _cost(stats: dict[str, Any] | None) -> str:
    if stats is None:
        return "-"
    if stats["cost_per_run"] is None:
        return f"unpriced ({stats['unpriced_calls']} calls)"
    return f"${stats['cost_per_run']:,.6f}"


def _interval(interval: list[float] | None) -> str:
    return "-" if interval is None else f"{interval[0]:+.1f} to {interval[1]:+.1f}"


PAGE = Page("CI cost gate", ":material/rule:", "gate", render)
