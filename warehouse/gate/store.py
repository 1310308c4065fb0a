"""Gate runs kept by the service: saved as posted, listed newest first, read back whole."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb

from warehouse.core.clock import naive_utc, utc
from warehouse.core.errors import NotFound
from warehouse.core.rows import fetch_dicts
from warehouse.gate.run import Run, run_from_json
from warehouse.store.numbering import insert_numbered

COLUMNS = "id, label, commit, branch, recorded_at, received_at, repetitions, calls"


def save_run(cursor: duckdb.DuckDBPyConnection, run: Run, now: dt.datetime) -> int:
    (new_id,) = insert_numbered(
        cursor,
        "gate_runs",
        (*COLUMNS.removeprefix("id, ").split(", "), "document"),
        [[
            run.label,
            run.commit,
            run.branch,
            naive_utc(run.recorded_at),
            naive_utc(now),
            run.repetitions,
            len(run.calls),
            json.dumps(run.to_json()),
        ]],
    )  # fmt: skip
    return new_id


def list_runs(
    cursor: duckdb.DuckDBPyConnection,
    branch: str | None = None,
    label: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The runs, newest first, of `branch` and `label` when given."""
    rows = fetch_dicts(
        cursor,
        f"SELECT {COLUMNS} FROM gate_runs "
        "WHERE (? IS NULL OR branch = ?) AND (? IS NULL OR label = ?) "
        "ORDER BY recorded_at DESC, id DESC LIMIT ?",
        [branch, branch, label, label, limit],
    )
    for row in rows:
        row["recorded_at"], row["received_at"] = utc(row["recorded_at"]), utc(row["received_at"])
    return rows


def load_run(cursor: duckdb.DuckDBPyConnection, run_id: int) -> Run:
    row = cursor.execute("SELECT document FROM gate_runs WHERE id = ?", [run_id]).fetchone()
    if row is None:
        raise NotFound(f"no gate run {run_id}")
    return run_from_json(json.loads(row[0]))
