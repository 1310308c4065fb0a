"""The admin APIs' paginated reports, however they were saved.

OpenAI (`/v1/organization/usage/completions`, `/v1/organization/costs`) and Anthropic
(`/v1/organizations/usage_report/messages`, `/v1/organizations/cost_report`) answer pages of
time buckets, each with `results`. A saved bill may be one page, a list of pages, or the
bundle `spendscope bills pull --save` writes: `{"source": ..., "usage": [pages],
"costs": [pages]}`. `buckets` walks any of them, naming where each result is
("page 2, bucket 5, result 3"), so an importer's error points at the row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from warehouse.reconciliation.records import BillLine, ParsedBill, RowError, timestamp


@dataclass(frozen=True)
class Result:
    where: str
    start: dt.datetime  # the bucket's start (naive UTC)
    data: Mapping[str, Any]


def page_list(document: Any) -> list[Any]:
    """Every page of a saved document: the bundle's usage pages then its cost pages, a list
    of pages, or the one page."""
    if isinstance(document, Mapping) and ("usage" in document or "costs" in document):
        pages: list[Any] = []
        for part in ("usage", "costs"):
            found = document.get(part) or []
            pages.extend(found if isinstance(found, list) else [found])
        return pages
    if isinstance(document, list):
        return document
    return [document]


def buckets(
    pages: list[Any], start_key: str, errors: list[str], on_bucket: Callable[[dt.datetime], None]
) -> Iterator[Result]:
    """Every result of every bucket; a malformed page or bucket is recorded in `errors`
    and skipped. `on_bucket` sees each bucket's start, results or none."""
    for p, page in enumerate(pages, 1):
        if not isinstance(page, Mapping) or not isinstance(page.get("data"), list):
            errors.append(f"page {p}: not a report page (an object with a `data` list)")
            continue
        for b, bucket in enumerate(page["data"], 1):
            where = f"page {p}, bucket {b}"
            if not isinstance(bucket, Mapping):
                errors.append(f"{where}: not an object")
                continue
            try:
                start = timestamp(bucket.get(start_key), start_key)
            except RowError as exc:
                errors.append(f"{where}: {exc}")
                continue
            results = bucket.get("results")
            if not isinstance(results, list):
                errors.append(f"{where}: `results` must be a list")
                continue
            on_bucket(start)
            for r, result in enumerate(results, 1):
                if not isinstance(result, Mapping):
                    errors.append(f"{where}, result {r}: not an object")
                    continue
                yield Result(f"{where} ({start:%Y-%m-%d}), result {r}", start, result)


def add_results(
    document: Any,
    bill: ParsedBill,
    errors: list[str],
    *,
    provider: str,
    start_key: str,
    line: Callable[[Result], BillLine],
) -> None:
    """Add the line of every result of a saved report to `bill` (a bucket, even an empty
    one, covers its day for `provider`); a bad result is recorded in `errors`."""

    def covered(start: dt.datetime) -> None:
        bill.days.add((provider, start.date()))

    for result in buckets(page_list(document), start_key, errors, covered):
        try:
            bill.add(line(result))
        except RowError as exc:
            errors.append(f"{result.where}: {exc}")
