"""The migrations' DDL in the form a DuckLake accepts.

DuckLake has no primary keys, unique or check constraints, indexes, sequences or per-column
compression. The migrations are written for the embedded file (where the constraints guard
the data); on a lake, `translate` rewrites each statement they send before it runs:
constraints and compression are left out of CREATE TABLE, index statements become no-ops,
a sequence becomes a row of `store_sequences` (`warehouse.store.numbering`), and a column
numbered by a sequence (`DEFAULT nextval('...')`) keeps no
default (on a lake the inserts number such rows themselves, see `warehouse.store.numbering`).
What a constraint guaranteed is then kept by the code that writes: the upserts are MERGE
statements on the key, and the readers of `spans` deduplicate by (trace_id, span_id).
"""

from __future__ import annotations

import re

NO_OP = "SELECT 1"

SEQUENCES_TABLE = (
    "CREATE TABLE IF NOT EXISTS store_sequences (name VARCHAR NOT NULL, value BIGINT NOT NULL)"
)
_CREATE_SEQUENCE = re.compile(r"^\s*CREATE\s+SEQUENCE\s+(\w+)(\s+START\s+(\d+))?\s*$", re.I)
_DROP_SEQUENCE = re.compile(r"^\s*DROP\s+SEQUENCE\s+(\w+)\s*$", re.IGNORECASE)
_SKIPPED = re.compile(
    r"^\s*(CREATE\s+(UNIQUE\s+)?INDEX|DROP\s+INDEX"
    r"|ALTER\s+TABLE\s+\S+\s+(ADD|DROP)\s+CONSTRAINT|COMMENT\s+ON)\b",
    re.IGNORECASE,
)
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+(TEMP\s+|TEMPORARY\s+)?TABLE\b", re.IGNORECASE)
_TABLE_CONSTRAINT = re.compile(
    r"^\s*(CONSTRAINT\s+\S+\s+)?(PRIMARY\s+KEY|UNIQUE|CHECK|FOREIGN\s+KEY)\b", re.IGNORECASE
)
_COLUMN_CLAUSES = (
    re.compile(r"\s+DEFAULT\s+nextval\s*\(\s*'[^']*'\s*\)", re.IGNORECASE),
    re.compile(r"\s+USING\s+COMPRESSION\s+\w+", re.IGNORECASE),
    re.compile(r"\s+PRIMARY\s+KEY\b", re.IGNORECASE),
    re.compile(r"\s+UNIQUE\b", re.IGNORECASE),
)
_CHECK = re.compile(r"\s+(CONSTRAINT\s+\S+\s+)?CHECK\s*\(", re.IGNORECASE)


def _split_top_level(body: str) -> list[str]:
    """`body` split at the commas outside parentheses and quotes."""
    items, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(body):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(body[start:index])
            start = index + 1
    items.append(body[start:])
    return items


def _closing(text: str, opening: int) -> int:
    """The index of the parenthesis closing the one at `opening`."""
    depth = 0
    for index in range(opening, len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return index
    raise ValueError(f"unbalanced parentheses in {text!r}")


def _column(item: str) -> str:
    for clause in _COLUMN_CLAUSES:
        item = clause.sub("", item)
    while match := _CHECK.search(item):
        end = _closing(item, match.end() - 1)
        item = item[: match.start()] + item[end + 1 :]
    return item


def _create_table(statement: str) -> str:
    opening = statement.index("(")
    closing = _closing(statement, opening)
    items = [
        _column(item)
        for item in _split_top_level(statement[opening + 1 : closing])
        if not _TABLE_CONSTRAINT.match(item)
    ]
    return f"{statement[: opening + 1]}{','.join(items)}{statement[closing:]}"


def translate(statement: str) -> str:
    """`statement` as it runs on a lake."""
    if match := _CREATE_SEQUENCE.match(statement):  # a row of store_sequences (numbering)
        start = int(match.group(3) or 1)
        return f"INSERT INTO store_sequences VALUES ('{match.group(1)}', {start - 1})"
    if match := _DROP_SEQUENCE.match(statement):
        return f"DELETE FROM store_sequences WHERE name = '{match.group(1)}'"
    if _SKIPPED.match(statement):
        return NO_OP
    if _CREATE_TABLE.match(statement) and not re.search(
        r"^\s*CREATE\s+(TEMP\s+|TEMPORARY\s+)?TABLE\s+\S+\s+AS\b", statement, re.IGNORECASE
    ):
        return _create_table(statement)
    return statement
