"""The FOCUS export end to end: spans go in through the OTLP decoder, the jobs price them,
`GET /api/v1/export/focus` writes CSV and Parquet, and the files are checked against the
column rules of FOCUS 1.2 (below, as the spec states them: FinOps-Open-Cost-and-Usage-Spec/
FOCUS_Spec, tag v1.2, specification/columns/*.md and attributes/*.md), then against the
warehouse's own numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from sample_data.harness import otlp
from tests.collector.api.test_costs_api import ADMIN, DAY0, TENANTS, WINDOW, Pipeline, _nanos
from warehouse.store.database import Database

# ---- the FOCUS 1.2 column rules ----------------------------------------------------------

ALLOWED = {
    "ChargeCategory": {"Usage", "Purchase", "Tax", "Credit", "Adjustment"},
    "ChargeClass": {"Correction"},
    "ChargeFrequency": {"One-Time", "Recurring", "Usage-Based"},
    "PricingCategory": {"Standard", "Dynamic", "Committed", "Other"},
    "ServiceCategory": {
        "AI and Machine Learning", "Analytics", "Business Applications", "Compute",
        "Databases", "Developer Tools", "Multicloud", "Identity", "Integration",
        "Internet of Things", "Management and Governance", "Media", "Migration", "Mobile",
        "Networking", "Security", "Storage", "Web", "Other",
    },
}  # fmt: skip
# ServiceSubcategory: each value has one parent ServiceCategory (the AI rows of the table).
SUBCATEGORY_PARENT = {
    "AI Platforms": "AI and Machine Learning",
    "Bots": "AI and Machine Learning",
    "Generative AI": "AI and Machine Learning",
    "Machine Learning": "AI and Machine Learning",
    "Natural Language Processing": "AI and Machine Learning",
    "Other (AI and Machine Learning)": "AI and Machine Learning",
}
# Column ID: (feature level, data type, allows nulls), from each column's "Content
# constraints" table. Conditional and recommended columns are checked when present.
RULES: dict[str, tuple[str, str, bool]] = {
    "AvailabilityZone": ("Recommended", "String", True),
    "BilledCost": ("Mandatory", "Decimal", False),
    "BillingAccountId": ("Mandatory", "String", False),
    "BillingAccountName": ("Mandatory", "String", True),
    "BillingAccountType": ("Conditional", "String", False),
    "BillingCurrency": ("Mandatory", "Currency", False),
    "BillingPeriodEnd": ("Mandatory", "Date/Time", False),
    "BillingPeriodStart": ("Mandatory", "Date/Time", False),
    "ChargeCategory": ("Mandatory", "String", False),
    "ChargeClass": ("Mandatory", "String", True),
    "ChargeDescription": ("Mandatory", "String", True),
    "ChargeFrequency": ("Recommended", "String", False),
    "ChargePeriodEnd": ("Mandatory", "Date/Time", False),
    "ChargePeriodStart": ("Mandatory", "Date/Time", False),
    "ConsumedQuantity": ("Conditional", "Decimal", True),
    "ConsumedUnit": ("Conditional", "String", True),
    "ContractedCost": ("Mandatory", "Decimal", False),
    "ContractedUnitPrice": ("Conditional", "Decimal", True),
    "EffectiveCost": ("Mandatory", "Decimal", False),
    "InvoiceId": ("Recommended", "String", True),
    "InvoiceIssuerName": ("Mandatory", "String", False),
    "ListCost": ("Mandatory", "Decimal", False),
    "ListUnitPrice": ("Conditional", "Decimal", True),
    "PricingCategory": ("Conditional", "String", True),
    "PricingQuantity": ("Mandatory", "Decimal", True),
    "PricingUnit": ("Mandatory", "String", True),
    "ProviderName": ("Mandatory", "String", False),
    "PublisherName": ("Mandatory", "String", False),
    "RegionId": ("Conditional", "String", True),
    "ResourceId": ("Conditional", "String", True),
    "ServiceCategory": ("Mandatory", "String", False),
    "ServiceName": ("Mandatory", "String", False),
    "ServiceSubcategory": ("Recommended", "String", False),
    "SkuId": ("Conditional", "String", True),
    "SkuMeter": ("Conditional", "String", True),
    "SkuPriceId": ("Conditional", "String", True),
    "SubAccountId": ("Conditional", "String", True),
    "Tags": ("Conditional", "JSON", True),
}
# Date/Time Format: UTC, extended ISO 8601 'YYYY-MM-DDTHH:mm:ssZ'. Numeric Format: an
# integer, decimal or E notation; no sign for positives, no separators, no units.
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
NUMERIC = re.compile(r"-?\d+(\.\d+)?(E-?\d+)?")
CURRENCY = re.compile(r"[A-Z]{3}")  # ISO 4217, national currency
PASCAL = re.compile(r"[A-Z][A-Za-z0-9]*")
# Numeric format forbids nothing finer; the unit price is kept at 24 decimal places.
MATCH = Decimal("1e-12")
# Unit Format: a count-based unit is capitalized, a unit quantity a whole number.
UNIT = re.compile(r"(\d+ )?[A-Z][A-Za-z]*")


def usage_row(row: Mapping[str, str]) -> bool:
    """ChargeCategory Usage or Purchase, and not a correction."""
    return row["ChargeCategory"] in ("Usage", "Purchase") and row["ChargeClass"] != "Correction"


def check_focus(header: list[str], rows: list[dict[str, str]]) -> None:
    """Hold a FOCUS 1.2 CSV (empty cell: null) to the rules above."""
    custom = [name for name in header if not name.startswith("x_")]
    # Column handling: FOCUS columns first, custom ones prefixed x_ and after them all.
    assert header[: len(custom)] == custom, "custom columns are intermixed"
    for name in custom:
        assert PASCAL.fullmatch(name) and name in RULES, f"{name} is not a FOCUS 1.2 column"
    missing = {n for n, (level, _, _) in RULES.items() if level == "Mandatory"} - set(header)
    assert not missing, f"mandatory columns missing: {missing}"
    sku_parents: dict[str, set[str]] = {}
    for row in rows:
        for name in custom:
            _, kind, nullable = RULES[name]
            value = row[name]
            if value == "":
                assert nullable, f"{name} must not be null: {row}"
                continue
            if kind == "Decimal":
                assert NUMERIC.fullmatch(value), (name, value)
            elif kind == "Date/Time":
                assert DATETIME.fullmatch(value), (name, value)
            elif kind == "Currency":
                assert CURRENCY.fullmatch(value), (name, value)
            if name in ALLOWED:
                assert value in ALLOWED[name], (name, value)
        _check_relations(row)
        if row.get("SkuPriceId"):
            sku_parents.setdefault(row["SkuPriceId"], set()).add(row["SkuId"])
    # SkuPriceId MUST have one and only one parent SkuId.
    assert all(len(parents) == 1 for parents in sku_parents.values()), sku_parents


def _check_relations(row: Mapping[str, str]) -> None:
    def number(name: str) -> Decimal:
        return Decimal(row[name])

    assert row["ChargePeriodStart"] < row["ChargePeriodEnd"]
    assert row["BillingPeriodStart"] < row["BillingPeriodEnd"]
    if row["ChargeClass"]:
        assert row["ChargeClass"] == "Correction"
    if row.get("ServiceSubcategory"):
        assert SUBCATEGORY_PARENT[row["ServiceSubcategory"]] == row["ServiceCategory"]
    if row.get("ChargeFrequency") == "Usage-Based":
        assert row["ChargeCategory"] != "Purchase"
    # ConsumedQuantity: null unless Usage; not null for Usage that is not a correction.
    if "ConsumedQuantity" in row:
        if row["ChargeCategory"] != "Usage":
            assert row["ConsumedQuantity"] == ""
        elif row["ChargeClass"] != "Correction":
            assert row["ConsumedQuantity"] != ""
        # ConsumedUnit: null exactly when ConsumedQuantity is; Unit Format recommended.
        assert (row["ConsumedUnit"] == "") == (row["ConsumedQuantity"] == "")
        assert row["ConsumedUnit"] == "" or UNIT.fullmatch(row["ConsumedUnit"])
    # PricingUnit: null exactly when PricingQuantity is.
    assert (row["PricingUnit"] == "") == (row["PricingQuantity"] == "")
    for name in ("SkuId", "SkuPriceId", "PricingCategory", "ListUnitPrice",
                 "ContractedUnitPrice", "PricingQuantity"):  # fmt: skip
        if name not in row:
            continue
        if row["ChargeCategory"] == "Tax":
            assert row[name] == "", f"{name} must be null for Tax"
        elif usage_row(row):
            assert row[name] != "", f"{name} must not be null for Usage / Purchase: {row}"
    if row.get("SkuMeter") and not row.get("SkuId"):
        raise AssertionError("SkuMeter must be null when SkuId is")
    for price in ("ListUnitPrice", "ContractedUnitPrice"):
        if row.get(price):
            assert number(price) >= 0, f"{price} must be non-negative"
    # The product of a unit price and PricingQuantity must match its cost.
    if row["ChargeClass"] != "Correction" and row["PricingQuantity"]:
        for price, cost in (("ListUnitPrice", "ListCost"), ("ContractedUnitPrice",
                                                             "ContractedCost")):  # fmt: skip
            if row.get(price):
                product = number(price) * number("PricingQuantity")
                assert abs(product - number(cost)) <= MATCH, (price, cost, row)


# ---- the data ---------------------------------------------------------------------------


@pytest.fixture
def pipeline(database: Database, tmp_path: Path) -> Iterator[Pipeline]:
    yield Pipeline(database, tmp_path)


def _span(trace: int, number: int, attributes: dict[str, Any], minute: int = 0) -> Span:
    start = _nanos(DAY0) + (trace * 60 + minute) * 60 * 10**9
    return Span(
        trace_id=otlp.trace_id(trace),
        span_id=otlp.span_id(number),
        parent_span_id=otlp.span_id(1) if number > 1 else b"",
        name="chat" if number > 1 else "request",
        kind=Span.SPAN_KIND_CLIENT if number > 1 else Span.SPAN_KIND_SERVER,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 10**9,
        attributes=otlp.key_values(attributes),
    )


def _chat(model: str, inputs: int, outputs: int, **more: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": inputs,
        "gen_ai.usage.output_tokens": outputs,
        **more,
    }


def world(pipeline: Pipeline) -> None:
    """Day 0: support (acme) calls gpt-4o with cache reads and gpt-4o-mini; search (globex)
    calls gpt-4o-mini, an unknown model that reports its cost, and one that does not. Day 1:
    one more gpt-4o call of support. gpt-4o-mini has a negotiated price of half its list."""
    root = {"spendscope.feature": "support", "spendscope.tenant": "acme"}
    pipeline.send([
        _span(1, 1, root),
        _span(1, 2, _chat("gpt-4o", 60_000, 500, **{"gen_ai.usage.cache_read.input_tokens": 6000})),
        _span(1, 3, _chat("gpt-4o-mini", 2000, 300), minute=1),
    ])  # fmt: skip
    other = {"spendscope.feature": "search", "spendscope.tenant": "globex"}
    pipeline.send([
        _span(2, 1, other),
        _span(2, 2, _chat("gpt-4o-mini", 1000, 100)),
        _span(2, 3, _chat("in-house-1", 700, 70, **{"gen_ai.usage.cost": 0.0123}), minute=1),
        _span(2, 4, _chat("in-house-2", 500, 50), minute=2),
    ])  # fmt: skip
    later = 24 * 60 + 5  # the next day, minutes after the first trace's hour
    pipeline.send([_span(3, 1, root, later), _span(3, 2, _chat("gpt-4o", 4000, 200), later)])
    price = {"provider": "openai", "model": "gpt-4o-mini", "input_mtok": "0.075",
             "output_mtok": "0.3", "note": "negotiated: half of list"}  # fmt: skip
    created = pipeline.client.post("/api/v1/prices", json=price, headers=ADMIN)
    assert created.status_code == 201, created.text
    pipeline.run()


def export(
    pipeline: Pipeline, headers: Mapping[str, str] = ADMIN, **params: Any
) -> tuple[list[str], list[dict[str, str]], Any]:
    response = pipeline.client.get(
        "/api/v1/export/focus", params=WINDOW | params, headers=dict(headers)
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-focus-version"] == "1.2"
    reader = csv.DictReader(io.StringIO(response.text))
    rows = list(reader)
    assert reader.fieldnames is not None
    return list(reader.fieldnames), rows, response


def test_the_csv_follows_the_focus_rules_and_holds_the_warehouses_numbers(
    pipeline: Pipeline,
) -> None:
    world(pipeline)
    header, rows, response = export(pipeline)
    check_focus(header, rows)
    assert response.headers["x-spendscope-left-out-calls"] == "1"  # in-house-2: no cost
    assert int(response.headers["x-spendscope-rows"]) == len(rows)
    computed = [r for r in rows if r["x_CostSource"] == "Computed"]
    total = pipeline.costs()["totals"]
    assert sum(Decimal(r["EffectiveCost"]) for r in computed) == Decimal(total["cost_usd"])
    reported = [r for r in rows if r["x_CostSource"] == "Reported"]
    assert [(r["SkuPriceId"], r["ConsumedQuantity"]) for r in reported] == [
        ("openai/in-house-1/reported", "770")
    ]
    assert Decimal(reported[0]["BilledCost"]) == Decimal("0.0123")
    # One row per day x model x feature x tenant x SKU price: gpt-4o on day 0 is three.
    day0 = {
        r["SkuPriceId"]: r
        for r in rows
        if r["ChargePeriodStart"] == f"{DAY0:%Y-%m-%dT%H:%M:%SZ}" and r["x_Feature"] == "support"
    }
    gpt4o = day0["openai/gpt-4o/input"]
    assert gpt4o["ConsumedQuantity"] == "54000"  # uncached input (5 digits: 29 at scale 24)
    assert day0["openai/gpt-4o/cache_read"]["ConsumedQuantity"] == "6000"
    assert day0["openai/gpt-4o/cache_read"]["x_CacheAction"] == "read"
    assert day0["openai/gpt-4o/output"]["x_TokenDirection"] == "output"
    assert day0["openai/gpt-4o/input"]["ChargePeriodEnd"] == "2026-11-02T00:00:00Z"
    assert day0["openai/gpt-4o/input"]["BillingPeriodStart"] == "2026-11-01T00:00:00Z"
    assert day0["openai/gpt-4o/input"]["BillingPeriodEnd"] == "2026-12-01T00:00:00Z"
    assert (gpt4o["x_Tenant"], gpt4o["x_ValueUnit"]) == ("acme", "ticket_resolved")
    # List vs effective: gpt-4o at its list price, gpt-4o-mini at the negotiated half.
    assert Decimal(gpt4o["ListCost"]) == Decimal(gpt4o["EffectiveCost"]) > 0
    mini = day0["openai/gpt-4o-mini/input"]
    assert Decimal(mini["ListCost"]) == 2 * Decimal(mini["EffectiveCost"]) > 0
    assert Decimal(mini["ContractedUnitPrice"]) == Decimal("0.075")
    assert mini["PricingUnit"] == "1000000 Tokens" and mini["ConsumedUnit"] == "Tokens"


def test_parquet_reads_back_as_the_csv(pipeline: Pipeline, tmp_path: Path) -> None:
    world(pipeline)
    _, rows, _ = export(pipeline)
    response = pipeline.client.get(
        "/api/v1/export/focus", params=WINDOW | {"format": "parquet"}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    path = tmp_path / "focus.parquet"
    path.write_bytes(response.content)
    table = pq.read_table(path)
    assert table.num_rows == len(rows)
    assert str(table.schema.field("EffectiveCost").type) == "decimal128(38, 24)"
    assert str(table.schema.field("ChargePeriodStart").type) == "timestamp[ms, tz=UTC]"
    with duckdb.connect() as db:
        cost, starts = db.execute(
            f"SELECT sum(EffectiveCost), list(DISTINCT ChargePeriodStart::VARCHAR ORDER BY 1) "
            f"FROM read_parquet('{path}')"
        ).fetchone()  # type: ignore[misc]
    assert Decimal(cost) == sum(Decimal(r["EffectiveCost"]) for r in rows)
    assert len(starts) == 2  # day 0 and day 1
    by_sku = {(r["SkuPriceId"], r["ChargePeriodStart"]) for r in rows}
    back = {
        (sku, start.strftime("%Y-%m-%dT%H:%M:%SZ"))
        for sku, start in zip(
            table.column("SkuPriceId").to_pylist(),
            table.column("ChargePeriodStart").to_pylist(),
            strict=True,
        )
    }
    assert back == by_sku


def test_grain_by_and_tenant_scope(pipeline: Pipeline) -> None:
    world(pipeline)
    header, hourly, _ = export(pipeline, grain="hour", by=["feature"])
    check_focus(header, hourly)
    for row in hourly:
        start = dt.datetime.strptime(row["ChargePeriodStart"], "%Y-%m-%dT%H:%M:%SZ")
        end = dt.datetime.strptime(row["ChargePeriodEnd"], "%Y-%m-%dT%H:%M:%SZ")
        assert end - start == dt.timedelta(hours=1) and row["x_Tenant"] == ""
    acme = {"authorization": f"Bearer {TENANTS['acme']}"}
    _, mine, _ = export(pipeline, acme)
    assert mine and {r["x_Tenant"] for r in mine} == {"acme"}
    twice = pipeline.client.get(
        "/api/v1/export/focus", params={"by": ["feature", "feature"]}, headers=ADMIN
    )
    assert twice.status_code == 400 and "twice" in twice.text


def test_the_rules_refuse_what_breaks_them() -> None:
    header, rows = _valid()
    check_focus(header, rows)
    broken: list[tuple[str, dict[str, str]]] = [
        ("BilledCost", {"BilledCost": ""}),  # a mandatory cost, null
        ("ChargeCategory", {"ChargeCategory": "Spend"}),  # not an allowed value
        ("ChargePeriodStart", {"ChargePeriodStart": "2026-11-01 00:00:00"}),  # not ISO Z
        ("ListCost", {"ListCost": "1"}),  # not ListUnitPrice x PricingQuantity
        ("SkuPriceId", {"SkuPriceId": ""}),  # null on a Usage row
        ("ConsumedUnit", {"ConsumedUnit": ""}),  # null while ConsumedQuantity is not
        ("ServiceSubcategory", {"ServiceCategory": "Compute"}),  # another parent
        ("EffectiveCost", {"EffectiveCost": "1,5"}),  # not Numeric Format
    ]
    for name, change in broken:
        try:
            check_focus(header, [rows[0] | change])
        except AssertionError:
            continue
        raise AssertionError(f"the rules let a broken {name} through")
    with pytest.raises(AssertionError, match="intermixed"):
        check_focus(["x_Feature", *header], [rows[0] | {"x_Feature": "a"}])
    with pytest.raises(AssertionError, match="mandatory"):
        check_focus([h for h in header if h != "ListCost"], rows)
    with pytest.raises(AssertionError):  # one SkuPriceId under two SkuIds
        check_focus(header, [rows[0], rows[0] | {"SkuId": "other/model"}])


def _valid() -> tuple[list[str], list[dict[str, str]]]:
    """One valid row, as the export writes it (by `warehouse.export.files`)."""
    from warehouse.export.files import csv_text
    from warehouse.export.focus import ListPrices, _row
    from warehouse.pricing.catalog import default_catalog

    part = {"period": dt.datetime(2026, 11, 1), "provider": "openai", "model": "gpt-4o",
            "part": "input", "calls": 2, "quantity": 3000, "cost": Decimal("0.0075"),
            "feature": "support", "tenant": "acme"}  # fmt: skip
    row = _row(part, dt.timedelta(days=1), ListPrices(default_catalog()), {})
    reader = csv.DictReader(io.StringIO(csv_text([row])))
    rows = list(reader)
    assert reader.fieldnames is not None
    return list(reader.fieldnames), rows
