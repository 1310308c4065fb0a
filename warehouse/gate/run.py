"""A gate run: the model calls one recording made, kept as a JSON file (a CI artifact).

The calls come from the warehouse the recording filled, priced and attributed by the same
jobs as production traffic, so the gate prices a pull request exactly as spendscope prices
the product. A recording may repeat the command: each call keeps the repetition it belongs
to (by its start time), so the comparison can tell run-to-run noise from a change.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from warehouse.core.clock import naive_utc, utc
from warehouse.core.errors import InvalidRequest

T = TypeVar("T")

FORMAT = "spendscope-gate-run/1"
# The path of calls that name none: their feature, else the span's name, else this.
NO_PATH = "(no path)"


class RunFileError(InvalidRequest):
    """A run file that cannot be read: missing, not JSON, or not a run."""


@dataclass(frozen=True)
class Call:
    """One model call of a run. `cost_usd` is None when no price matched (unpriced)."""

    repetition: int
    path: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cost_usd: Decimal | None
    cache_savings_usd: Decimal
    # What the input tokens would cost uncached (cache reads at the full input price, cache
    # writes as billed) and what the output tokens cost: the comparison's price per token.
    input_cost_usd: Decimal = Decimal(0)
    output_cost_usd: Decimal = Decimal(0)


@dataclass(frozen=True)
class Run:
    """What one recording measured. `repetitions` counts the times the command ran."""

    label: str
    commit: str | None
    branch: str | None
    recorded_at: dt.datetime
    repetitions: int
    command: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["format"] = FORMAT
        document["recorded_at"] = self.recorded_at.isoformat()
        document["calls"] = [
            {
                **asdict(call),
                "cost_usd": None if call.cost_usd is None else _text(call.cost_usd),
                "cache_savings_usd": _text(call.cache_savings_usd),
                "input_cost_usd": _text(call.input_cost_usd),
                "output_cost_usd": _text(call.output_cost_usd),
            }
            for call in self.calls
        ]
        return document


def _text(amount: Decimal) -> str:
    """`amount` exactly, without the warehouse's trailing zeros or an exponent."""
    return format(amount.normalize(), "f")


def write_run(run: Run, path: Path) -> None:
    """Write `run` to `path` (through a temporary file: a reader never sees half a run)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(run.to_json(), indent=1) + "\n", encoding="utf-8")
    temporary.replace(path)


def read_run(path: Path) -> Run:
    """The run in `path`; RunFileError naming the file and what is wrong with it."""
    return read_document(path, json.loads, json.JSONDecodeError, run_from_json, RunFileError, "run")


def read_document(
    path: Path,
    parse: Callable[[str], Any],
    parse_error: type[Exception],
    build: Callable[[Any], T],
    error: type[InvalidRequest],
    kind: str,
    syntax: str | None = None,
) -> T:
    """`build(parse(text of path))`; `error` naming `path` when it is missing, unreadable,
    not parsable (`syntax`: what it should parse as, default `kind`), or not a `kind` (the
    message of the `error` that `build` raised)."""
    try:
        document = parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: no such {kind} file") from None
    except (OSError, UnicodeDecodeError, parse_error) as exc:
        raise error(f"{path}: not a {syntax or kind} file ({exc})") from None
    try:
        return build(document)
    except error as exc:
        raise error(f"{path}: {exc}") from None


def run_from_json(document: Any) -> Run:
    """A run from its JSON document (a file's, or one posted to the API)."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise RunFileError(f"not a run file (expected format {FORMAT!r})")
    try:
        calls = [_call(item, index) for index, item in enumerate(document["calls"])]
        repetitions = int(document["repetitions"])
        if repetitions < 1:
            raise ValueError("repetitions must be at least 1")
        return Run(
            label=str(document["label"]),
            commit=_optional_text(document.get("commit")),
            branch=_optional_text(document.get("branch")),
            recorded_at=utc(dt.datetime.fromisoformat(document["recorded_at"])),
            repetitions=repetitions,
            command=[str(part) for part in document.get("command", [])],
            calls=calls,
        )
    except RunFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise RunFileError(f"malformed run ({type(exc).__name__}: {exc})") from None


def _call(item: Any, index: int) -> Call:
    try:
        cost = item["cost_usd"]
        return Call(
            repetition=int(item["repetition"]),
            path=str(item["path"]),
            provider=str(item["provider"]),
            model=str(item["model"]),
            input_tokens=int(item["input_tokens"]),
            output_tokens=int(item["output_tokens"]),
            cache_read_tokens=int(item["cache_read_tokens"]),
            cost_usd=None if cost is None else Decimal(str(cost)),
            cache_savings_usd=Decimal(str(item["cache_savings_usd"])),
            input_cost_usd=Decimal(str(item["input_cost_usd"])),
            output_cost_usd=Decimal(str(item["output_cost_usd"])),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise RunFileError(f"call {index} is malformed ({type(exc).__name__}: {exc})") from None


def _optional_text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


CALLS_SQL = """
SELECT c.start_time,
       COALESCE(c.feature, s.feature_default, s.name) AS path,
       COALESCE(s.provider, '') AS provider,
       COALESCE(s.response_model, s.request_model, '') AS model,
       COALESCE(s.input_tokens, 0), COALESCE(s.output_tokens, 0),
       COALESCE(s.cache_read_tokens, 0),
       CASE WHEN k.priced THEN k.cost_usd END,
       COALESCE(k.cache_savings_usd, 0),
       COALESCE(k.input_cost_usd, 0) + COALESCE(k.cache_read_cost_usd, 0)
         + COALESCE(k.cache_write_cost_usd, 0) + COALESCE(k.cache_savings_usd, 0),
       COALESCE(k.output_cost_usd, 0)
FROM model_calls c
JOIN spans s USING (trace_id, span_id)
LEFT JOIN call_costs k USING (trace_id, span_id)
ORDER BY c.start_time, c.trace_id, c.span_id
"""


def calls_in_windows(
    cursor: duckdb.DuckDBPyConnection, windows: list[tuple[dt.datetime, dt.datetime]]
) -> list[Call]:
    """The priced and attributed calls of a recording's warehouse, each given the repetition
    (1-based) whose time window holds its start; a call outside every window (a clock step)
    goes to the nearest one."""
    bounds = [(naive_utc(start), naive_utc(end)) for start, end in windows]
    calls = []
    for row in cursor.execute(CALLS_SQL).fetchall():
        start, path, provider, model, tokens_in, tokens_out, cached, cost, savings = row[:9]
        calls.append(
            Call(
                repetition=_repetition(start, bounds),
                path=path or NO_PATH,
                provider=provider,
                model=model,
                input_tokens=int(tokens_in),
                output_tokens=int(tokens_out),
                cache_read_tokens=int(cached),
                cost_usd=None if cost is None else Decimal(cost),
                cache_savings_usd=Decimal(savings),
                input_cost_usd=Decimal(row[9]),
                output_cost_usd=Decimal(row[10]),
            )
        )
    return calls


def _repetition(start: dt.datetime, bounds: list[tuple[dt.datetime, dt.datetime]]) -> int:
    def distance(window: tuple[dt.datetime, dt.datetime]) -> dt.timedelta:
        low, high = window
        if start < low:
            return low - start
        return max(start - high, dt.timedelta(0))

    return 1 + min(range(len(bounds)), key=lambda index: distance(bounds[index]))
