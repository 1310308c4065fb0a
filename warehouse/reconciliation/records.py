"""What an importer makes of a bill: `BillLine`s, and errors that name the row.

Every importer (`openai`, `anthropic`, `focus`) turns a provider's own records into lines in
spendscope's token classes: `input` is uncached input (cache reads and writes excluded, as
the providers' reports split them), `cache_read`, `cache_write` and `output` (reasoning
included). A line has tokens (a usage report), dollars (a cost report) or both (FOCUS).

A line's natural key (`key`) is what a re-import of the same record would have: importing a
bill twice, or two pulls whose windows overlap, replaces lines instead of adding them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from warehouse.core.errors import InvalidEntries, InvalidRequest

Source = Literal["openai", "anthropic", "focus"]
Kind = Literal["usage", "cost"]
TokenClass = Literal["", "input", "cache_read", "cache_write", "output", "other"]
TOKEN_CLASSES: tuple[TokenClass, ...] = ("input", "cache_read", "cache_write", "output")
MAX_ERRORS = 20


class WindowError(InvalidRequest):
    """A reconciliation window that is empty, reversed or longer than a year (HTTP 400)."""

    status_code = 400


class BillFileError(InvalidEntries):
    """A bill that cannot be imported; `errors` names each bad row (at most MAX_ERRORS).
    Nothing of the bill is stored: what was imported before stays as it was."""

    def __init__(self, name: str, errors: Sequence[str]) -> None:
        named = [f"{name}: {error}" for error in errors[:MAX_ERRORS]]
        more = len(errors) - MAX_ERRORS
        if more > 0:
            named.append(f"{name}: ... and {more} more problem(s)")
        super().__init__(named)


class RowError(ValueError):
    """One bad value; the importer adds where it is."""


@dataclass(frozen=True)
class BillLine:
    source: Source
    kind: Kind
    period_start: dt.datetime  # naive UTC: the start of the bucket or charge period
    provider: str  # as spans name it (gen_ai.provider.name): openai, anthropic, aws.bedrock
    model: str
    project: str = ""  # OpenAI project, Anthropic workspace, FOCUS sub-account
    api_key: str = ""
    tier: str = ""  # '' standard; batch, priority, flex, long_context ... as billed
    token_class: TokenClass = ""  # '' for a usage line holding every class
    requests: int | None = None
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal | None = None

    @property
    def day(self) -> dt.date:
        return self.period_start.date()

    @property
    def key(self) -> str:
        parts = (
            self.source, self.kind, self.period_start.isoformat(), self.provider, self.model,
            self.project, self.api_key, self.tier, self.token_class,
        )  # fmt: skip
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    def plus(self, other: BillLine) -> BillLine:
        """Two records of one key in one bill (a FOCUS file's hours of a day): summed."""

        def add(a: Any, b: Any) -> Any:
            return None if a is None and b is None else (a or 0) + (b or 0)

        return BillLine(
            self.source, self.kind, self.period_start, self.provider, self.model, self.project,
            self.api_key, self.tier, self.token_class, add(self.requests, other.requests),
            self.input_tokens + other.input_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.output_tokens + other.output_tokens, add(self.cost_usd, other.cost_usd),
        )  # fmt: skip


@dataclass
class ParsedBill:
    """A bill's lines (one per key), the (provider, day)s it covers, and what was skipped."""

    source: Source
    format: str
    lines: dict[str, BillLine] = field(default_factory=dict)
    days: set[tuple[str, dt.date]] = field(default_factory=set)
    skipped_rows: int = 0

    def add(self, line: BillLine) -> None:
        known = self.lines.get(line.key)
        self.lines[line.key] = line if known is None else known.plus(line)
        self.days.add((line.provider, line.day))


# ---- values, checked ----------------------------------------------------------------------


def count(value: Any, name: str, *, optional: bool = False) -> int:
    """A non-negative whole number (a token or request count); None/absent is 0."""
    if value is None:
        if optional:
            return 0
        raise RowError(f"{name}: missing")
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise RowError(f"{name}: must be a whole number, got {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RowError(f"{name}: must be a whole number, got {value!r}") from None
    if not number.is_finite() or number != number.to_integral_value() or number < 0:
        raise RowError(f"{name}: must be a non-negative whole number, got {value!r}")
    return int(number)


def amount(value: Any, name: str) -> Decimal:
    """An exact decimal amount (JSON numbers arrive as Decimal: parse with parse_float)."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        raise RowError(f"{name}: must be a decimal number, got {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RowError(f"{name}: must be a decimal number, got {value!r}") from None
    if not number.is_finite():
        raise RowError(f"{name}: must be a finite number, got {value!r}")
    return number


def text(value: Any, name: str) -> str:
    """An optional string ('' for null)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RowError(f"{name}: must be a string, got {value!r}")
    return value.strip()


def timestamp(value: Any, name: str) -> dt.datetime:
    """Unix seconds or an ISO 8601 / RFC 3339 time (a naive one is UTC), as naive UTC."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(int(value), dt.UTC).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError):
            raise RowError(f"{name}: not a time: {value!r}") from None
    if isinstance(value, str) and value.strip():
        raw = value.strip()
        try:
            when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise RowError(f"{name}: not an ISO 8601 time: {value!r}") from None
        if when.tzinfo is not None:
            when = when.astimezone(dt.UTC).replace(tzinfo=None)
        return when
    raise RowError(f"{name}: missing or not a time: {value!r}")
