"""Bill importers: the providers' real report shapes into spendscope's token classes, exact
money, errors that name the row, and imports that are all-or-nothing and idempotent."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from sample_data.bills import (
    BilledCall,
    anthropic_pages,
    dumps,
    focus_csv,
    focus_rows,
    openai_pages,
)
from warehouse.reconciliation.formats import parse_bill, sha256
from warehouse.reconciliation.records import BillFileError
from warehouse.reconciliation.store import import_bill
from warehouse.store.database import Database

DAY = dt.datetime(2026, 10, 5, 9)
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def usd_per_mtok(values: tuple[str, str, str, str]) -> Any:
    rates = dict(
        zip(("input", "cache_read", "cache_write", "output"), map(Decimal, values), strict=True)
    )
    return lambda call: rates


def lines(bill: Any) -> list[Any]:
    return sorted(bill.lines.values(), key=lambda line: (line.kind, line.token_class))


def test_openai_usage_and_costs_pages() -> None:
    calls = [
        BilledCall(DAY, "openai", "gpt-4o-mini-2024-07-18", 1000, 100, 400, project="proj_a"),
        BilledCall(DAY, "openai", "gpt-4o-mini-2024-07-18", 500, 50, 0, project="proj_a"),
    ]
    usage, costs = openai_pages(calls, usd_per_mtok(("0.15", "0.075", "0.15", "0.6")))
    # As the API sends them: a float amount, parsed exactly.
    content = dumps({"source": "openai", "usage": usage, "costs": costs})
    assert b'"value": 0.000165,' in content
    bill = parse_bill(content, "openai.json")
    cost_read, cost_input, cost_output, used = lines(bill)
    assert (used.kind, used.model, used.project, used.requests) == (
        "usage", "gpt-4o-mini-2024-07-18", "proj_a", 2,
    )  # fmt: skip
    assert (used.input_tokens, used.cache_read_tokens, used.output_tokens) == (1100, 400, 150)
    assert (cost_input.token_class, cost_input.cost_usd) == ("input", Decimal("0.000165"))
    assert (cost_read.token_class, cost_read.cost_usd) == ("cache_read", Decimal("0.00003"))
    assert (cost_output.token_class, cost_output.cost_usd) == ("output", Decimal("0.00009"))
    assert bill.days == {("openai", DAY.date())}


def test_openai_line_items_and_a_single_page() -> None:
    page = {
        "object": "page",
        "data": [{
            "object": "bucket", "start_time": 1759622400, "end_time": 1759708800,
            "results": [
                {"object": "organization.costs.result", "amount": {"value": 0.1, "currency": "usd"},
                 "line_item": "gpt-4o-2024-08-06, cached input", "project_id": None},
                {"object": "organization.costs.result", "amount": {"value": 0.2, "currency": "usd"},
                 "line_item": "ft-gpt-4o-mini training", "project_id": None},
                {"object": "organization.costs.result", "amount": {"value": 0.3, "currency": "usd"},
                 "line_item": None, "project_id": "proj_x"},
            ],
        }],
        "has_more": False,
        "next_page": None,
    }  # fmt: skip
    bill = parse_bill(json.dumps(page).encode(), "costs.json")
    found = {(line.model, line.token_class, line.project): line.cost_usd for line in lines(bill)}
    assert found == {
        ("gpt-4o-2024-08-06", "cache_read", ""): Decimal("0.1"),
        ("ft-gpt-4o-mini training", "other", ""): Decimal("0.2"),
        ("", "", "proj_x"): Decimal("0.3"),
    }
    assert sum(found.values()) == Decimal("0.6")  # exact: never through float


def test_anthropic_usage_and_cost_reports() -> None:
    calls = [
        BilledCall(DAY, "anthropic", "claude-sonnet-4-5", 3000, 200, 1000, 500, project="wrk_1"),
        BilledCall(DAY, "anthropic", "claude-sonnet-4-5", 1000, 100, tier="batch", project="wrk_1"),
    ]
    usage, costs = anthropic_pages(calls, usd_per_mtok(("3", "0.3", "3.75", "15")))
    usage[0]["data"][0]["results"][0]["cache_creation"]["ephemeral_1h_input_tokens"] = 7
    usage[0]["data"][0]["results"][0]["context_window"] = "200k-1M"
    bill = parse_bill(dumps({"usage": usage, "costs": costs}), "anthropic.json")
    assert bill.source == "anthropic"
    used = {(line.tier): line for line in lines(bill) if line.kind == "usage"}
    standard = used["long_context"]
    assert (standard.input_tokens, standard.cache_read_tokens) == (1500, 1000)
    assert (standard.cache_write_tokens, standard.output_tokens) == (507, 200)
    assert used["batch"].input_tokens == 1000 and used["batch"].project == "wrk_1"
    cost = {
        (line.tier, line.token_class): line.cost_usd for line in lines(bill) if line.kind == "cost"
    }
    # 1,500 uncached input tokens at $3/MTok is $0.0045: the report says "0.45" (cents).
    assert costs[0]["data"][0]["results"][0]["amount"] == "0.4500"
    assert cost[("", "input")] == Decimal("0.0045")
    assert cost[("batch", "output")] == Decimal("0.0015")


def test_focus_rows_of_bedrock() -> None:
    calls = [
        BilledCall(DAY, "aws.bedrock", "anthropic.claude-3-haiku-20240307-v1:0", 2000, 300),
        BilledCall(DAY.replace(hour=20), "aws.bedrock", "anthropic.claude-3-haiku-20240307-v1:0",
                   1000, 100),
    ]  # fmt: skip
    rows = list(focus_rows(calls, usd_per_mtok(("0.25", "0.03", "0.3", "1.25"))))
    rows[0]["ConsumedUnit"], rows[0]["ConsumedQuantity"] = "1K Tokens", "3"
    tax = {**rows[0], "ChargeCategory": "Tax", "BilledCost": "0.5"}
    other_service = {**rows[0], "ServiceName": "Amazon S3", "ServiceCategory": "Storage"}
    bill = parse_bill(focus_csv([*rows, tax, other_service]).encode(), "bedrock.csv")
    assert bill.skipped_rows == 2
    found = {line.token_class: line for line in lines(bill)}
    assert found["input"].model == "anthropic.claude-3-haiku-20240307-v1:0"
    assert found["input"].provider == "aws.bedrock"
    assert found["input"].input_tokens == 3000  # 3 x "1K Tokens"
    assert found["output"].output_tokens == 400
    assert found["input"].cost_usd == Decimal("0.00075")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda p: p[0]["data"][1]["results"][0].update(input_tokens=-5),
            "bill.json: page 1, bucket 2 (2026-10-06), result 1: input_tokens: must be a "
            "non-negative whole number, got -5",
        ),
        (
            lambda p: p[0]["data"][0]["results"][0].update(input_cached_tokens=10**9),
            "input_cached_tokens (1000000000) exceeds input_tokens",
        ),
        (
            lambda p: p[0]["data"][0].update(start_time="yesterday"),
            "bill.json: page 1, bucket 1: start_time: not an ISO 8601 time: 'yesterday'",
        ),
        (
            lambda p: p[0]["data"][0]["results"][0].update(
                object="organization.usage.images.result"
            ),
            "object: expected organization.usage.completions.result or",
        ),
    ],
)
def test_a_bad_openai_report_names_the_row(mutate: Any, message: str) -> None:
    calls = [BilledCall(DAY + dt.timedelta(days=d), "openai", "gpt-4o", 100, 10) for d in range(2)]
    usage, _ = openai_pages(calls, usd_per_mtok(("1", "1", "1", "1")))
    mutate(usage)
    with pytest.raises(BillFileError) as caught:
        parse_bill(dumps(usage), "bill.json")
    assert any(message in error for error in caught.value.errors), caught.value.errors


def test_a_bad_focus_file_names_the_row_and_every_problem() -> None:
    rows = list(
        focus_rows(
            [BilledCall(DAY, "aws.bedrock", "m", 100, 10)], usd_per_mtok(("1", "1", "1", "1"))
        )
    )
    rows[1]["BilledCost"] = "12,5"
    rows.append({**rows[0], "BillingCurrency": "EUR"})
    with pytest.raises(BillFileError) as caught:
        parse_bill(focus_csv(rows).encode(), "bill.csv")
    assert caught.value.errors == [
        "bill.csv: row 2 (line 3): BilledCost: must be a decimal number, got '12,5'",
        "bill.csv: row 3 (line 4): BillingCurrency: only USD bills are reconciled, got 'EUR'",
    ]
    with pytest.raises(BillFileError, match="missing column"):
        parse_bill(b"a,b\n1,2\n", "other.csv")
    with pytest.raises(BillFileError, match="not JSON"):
        parse_bill(b'{"data": [', "broken.json")
    with pytest.raises(BillFileError, match="not UTF-8"):
        parse_bill(b"\xff\xfe\x00", "binary.csv")


def snapshot(cursor: duckdb.DuckDBPyConnection) -> dict[str, list[Any]]:
    return {
        table: cursor.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        for table in ("bill_imports", "bill_lines", "bill_days")
    }


def test_imports_are_idempotent_and_all_or_nothing(database: Database) -> None:
    cursor = database.cursor()
    calls = [
        BilledCall(DAY + dt.timedelta(days=d), "openai", "gpt-4o", 1000, 100) for d in range(3)
    ]
    usage, costs = openai_pages(calls, usd_per_mtok(("2.5", "1.25", "2.5", "10")), per_page=2)
    content = dumps({"usage": usage, "costs": costs})
    first = import_bill(cursor, parse_bill(content, "a.json"), "a.json", sha256(content), NOW)
    assert (first.status, first.lines, first.changed_lines) == ("imported", 12, 12)
    before = snapshot(cursor)
    again = import_bill(cursor, parse_bill(content, "a.json"), "a.json", sha256(content), NOW)
    assert again.status == "unchanged" and again.import_id == first.import_id
    assert snapshot(cursor) == before  # the same bill twice changes nothing

    # The same figures pulled again (other bytes: one page per bucket): nothing changes.
    usage, costs = openai_pages(calls, usd_per_mtok(("2.5", "1.25", "2.5", "10")), per_page=1)
    overlap = dumps({"usage": usage, "costs": costs})
    second = import_bill(cursor, parse_bill(overlap, "b.json"), "b.json", sha256(overlap), NOW)
    assert (second.status, second.changed_lines) == ("imported", 0)
    assert snapshot(cursor)["bill_lines"] == before["bill_lines"]

    # A revised day replaces its lines, it never adds to them.
    revised = [*calls[:2], BilledCall(calls[2].start, "openai", "gpt-4o", 1200, 100)]
    usage, costs = openai_pages(revised, usd_per_mtok(("2.5", "1.25", "2.5", "10")))
    content = dumps({"usage": usage, "costs": costs})
    third = import_bill(cursor, parse_bill(content, "c.json"), "c.json", sha256(content), NOW)
    assert third.changed_lines == 2  # the third day's usage and its input cost
    total = cursor.execute(
        "SELECT sum(input_tokens), count(*) FROM bill_lines WHERE kind = 'usage'"
    ).fetchone()
    assert total == (3200, 3)

    # A bad bill is refused whole: what was imported stays exactly as it was.
    held = snapshot(cursor)
    bad = content.replace(b'"num_model_requests": 1', b'"num_model_requests": "many"', 1)
    with pytest.raises(BillFileError, match="num_model_requests"):
        import_bill(cursor, parse_bill(bad, "d.json"), "d.json", sha256(bad), NOW)
    assert snapshot(cursor) == held
