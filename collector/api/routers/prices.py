"""The price book API under /api/v1/prices: what priced what, overrides, unpriced models.

Adding, deleting or reloading prices only changes the price book; the pricing job notices
the change on its next run (every few seconds in `spendscope serve`) and re-prices the
affected calls by itself (see `warehouse.pricing.job`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from collector.api.deps import Context, Cursor, full_access, read_scope
from collector.api.errors import COMMON, ErrorDetail, errors
from collector.auth import Scope
from warehouse.config import sync as config_sync
from warehouse.core.clock import utc
from warehouse.gpu import prices as gpu_prices
from warehouse.queries.prices import price_report

Money = Annotated[str, Field(description="USD, exact decimal string.")]
PerMTok = Annotated[str, Field(description="USD per million tokens, exact decimal string.")]


def decimal_text(value: Decimal | None) -> str | None:
    """An exact decimal string without trailing zeros (never exponent notation)."""
    if value is None:
        return None
    return format(Decimal(value).normalize(), "f")


class Rates(BaseModel):
    input_mtok: PerMTok
    cache_read_mtok: PerMTok
    cache_write_mtok: PerMTok
    output_mtok: PerMTok
    reasoning_mtok: PerMTok
    requests_kcount: str = Field(description="USD per 1,000 calls.")


class PeriodRecord(BaseModel):
    """One resolved price of a model: a date range, an optional UTC time-of-day window and a
    band of total input tokens (cache included) it applies to."""

    id: int
    effective_from: dt.datetime | None = Field(description="Inclusive; null: since always.")
    effective_to: dt.datetime | None = Field(description="Exclusive; null: until changed.")
    time_of_day_from: dt.time | None = Field(description="UTC, inclusive (off-peak prices).")
    time_of_day_to: dt.time | None = Field(description="UTC, exclusive.")
    min_input_tokens: int
    max_input_tokens: int | None = Field(description="Exclusive; null: no upper bound.")
    source: str = Field(description="catalog or override.")
    override_id: int | None
    rates: Rates


class ModelInUse(BaseModel):
    provider: str = Field(description="As seen in spans ('' when none).")
    model: str = Field(description="Response model, else request model, as seen in spans.")
    catalog_provider: str | None = Field(description="genai-prices provider it matched.")
    catalog_model: str | None = Field(description="genai-prices model it matched.")
    calls: int
    priced_calls: int
    override_calls: int = Field(description="Calls priced by an override.")
    cost_usd: Money | None
    reported_cost_usd: Money | None = Field(
        description="Sum of the costs the instrumentation reported, where it did."
    )
    cost_usd_where_reported: Money | None = Field(
        description="Our cost of the calls that reported one, to compare with the above."
    )
    periods: list[PeriodRecord]


class TierRecord(BaseModel):
    start: int = Field(description="Calls with more input tokens (cache included) pay these.")
    input_mtok: PerMTok
    output_mtok: PerMTok
    cache_read_mtok: PerMTok | None = None
    cache_write_mtok: PerMTok | None = None
    reasoning_mtok: PerMTok | None = None


class CoveredModel(BaseModel):
    provider: str
    model: str
    match: str = Field(description="exact, family (a snapshot or alias of it) or pattern.")
    calls: int = Field(description="Its calls in the override's dates.")
    priced_calls: int | None = Field(description="Those this override priced.")


class OverrideRecord(BaseModel):
    id: int
    provider: str
    model: str
    match: str
    input_mtok: PerMTok
    cache_read_mtok: PerMTok | None
    cache_write_mtok: PerMTok | None
    output_mtok: PerMTok
    reasoning_mtok: PerMTok | None
    effective_from: dt.datetime
    source: str = Field(description="file (the price file) or api.")
    note: str | None
    created_at: dt.datetime
    effective_until: dt.datetime | None = Field(None, description="Exclusive; null: no end.")
    tiers: list[TierRecord] = Field(default_factory=list)
    covers: list[CoveredModel] = Field(
        default_factory=list, description="The models seen in spans this override covers."
    )
    covered_calls: int = Field(0, description="Their calls in the override's dates.")
    warning: str | None = Field(None, description="Set when it covers no call, say why.")


class UnpricedModel(BaseModel):
    provider: str
    model: str
    reason: str = Field(description="no_price (no catalog or override price) or no_usage.")
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    first_call: dt.datetime
    last_call: dt.datetime


class RepriceRecord(BaseModel):
    id: int
    provider: str
    model: str
    from_time: dt.datetime | None = Field(description="Calls from here on; null: all.")
    reason: str
    requested_at: dt.datetime
    done_at: dt.datetime | None
    calls_repriced: int | None = Field(description="Calls whose cost changed.")


class Catalog(BaseModel):
    name: str
    version: str = Field(description="The installed genai-prices package's version.")
    source: str = Field("bundled", description="bundled (the package's data), file or url.")
    location: str | None = Field(None, description="The file's path or the URL.")
    sha256: str | None = Field(None, description="The data file's SHA-256.")
    modified_at: dt.datetime | None = Field(None, description="File time or Last-Modified.")
    loaded_at: dt.datetime | None = None
    models: int | None = None
    rejected: list[str] = Field(
        default_factory=list,
        description="Why the latest catalog file or fetch was refused, while it is; the "
        "catalog in force stays.",
    )


class PricesResponse(BaseModel):
    catalog: Catalog
    book_fingerprint: str = Field(description="Changes whenever the catalog or overrides do.")
    up_to_date: bool = Field(description="False while a price change is being re-priced.")
    models: list[ModelInUse]
    overrides: list[OverrideRecord]
    unpriced: list[UnpricedModel]
    reprices: list[RepriceRecord] = Field(description="The latest re-pricing requests.")
    file_errors: list[str] = Field(
        default_factory=list,
        description="Why the price file was rejected (file, entry, field), while it is; "
        "the prices loaded before stay in force.",
    )


PriceValue = str | int | float


class OverrideIn(BaseModel):
    """A user price; the same fields as an entry of the price file."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "provider": "openai",
                    "model": "gpt-4o",
                    "input_mtok": "2.125",
                    "cache_read_mtok": "1.0625",
                    "output_mtok": "8.5",
                    "effective_from": "2025-06-01",
                    "note": "negotiated 15% off",
                }
            ]
        },
    )

    provider: str = Field(description="OTel provider name as in spans, or * for any.")
    model: str = Field(description="Model name or pattern.")
    match: str = Field("exact", description="exact, glob or regex (case-insensitive).")
    input_mtok: PriceValue = Field(description="USD per million input tokens.")
    cache_read_mtok: PriceValue | None = Field(None, description="Defaults to input_mtok.")
    cache_write_mtok: PriceValue | None = Field(None, description="Defaults to input_mtok.")
    output_mtok: PriceValue = Field(description="USD per million output tokens.")
    reasoning_mtok: PriceValue | None = Field(None, description="Defaults to output_mtok.")
    effective_from: str | None = Field(
        None, description="ISO date or datetime (UTC when no offset); absent: all history."
    )
    effective_until: str | None = Field(None, description="Exclusive end; absent: none.")
    tiers: list[dict[str, PriceValue]] | None = Field(
        None, description="Each `start` (input tokens) with its prices, as in the price file."
    )
    note: str | None = None


class PriceFileReloadResponse(BaseModel):
    file: str | None = Field(description="The price file read, if any.")
    added: int
    removed: int


def _rates(row: dict[str, Any]) -> Rates:
    return Rates(
        **{
            key: decimal_text(row.pop(key)) or "0"
            for key in (
                "input_mtok",
                "cache_read_mtok",
                "cache_write_mtok",
                "output_mtok",
                "reasoning_mtok",
                "requests_kcount",
            )
        }
    )


def _override(row: dict[str, Any]) -> OverrideRecord:
    for key in ("input_mtok", "cache_read_mtok", "cache_write_mtok", "output_mtok"):
        row[key] = decimal_text(row[key])
    row["reasoning_mtok"] = decimal_text(row["reasoning_mtok"])
    row["effective_from"] = utc(row["effective_from"])
    row["effective_until"] = utc(row.get("effective_until"))
    row["created_at"] = utc(row["created_at"])
    return OverrideRecord(**row)


def _model(row: dict[str, Any]) -> ModelInUse:
    for key in ("cost_usd", "reported_cost_usd", "cost_usd_where_reported"):
        row[key] = decimal_text(row[key])
    row["periods"] = [
        PeriodRecord(
            **{
                **period,
                "effective_from": utc(period["effective_from"]),
                "effective_to": utc(period["effective_to"]),
                "rates": _rates(period),
            }
        )
        for period in row["periods"]
    ]
    return ModelInUse(**row)


router = APIRouter(
    prefix="/api/v1/prices",
    dependencies=[Depends(read_scope)],
    tags=["prices"],
    responses=COMMON,
)
# Changing prices needs an unscoped token; reading is scoped to the caller's tenant.
change = [Depends(full_access)]


@router.get("", response_model=PricesResponse, summary="The price book and what it priced")
def list_prices(scope: Scope, cursor: Cursor, context: Context) -> PricesResponse:
    """Models in use with the catalog model they matched and their current prices,
    the overrides, unpriced models with call and token counts, and recent re-pricing.
    A tenant-scoped token sees its tenant's models and counts, and no re-pricing."""
    report = price_report(cursor, scope=scope)
    return PricesResponse(
        catalog=Catalog(**report["catalog"]),
        book_fingerprint=report["book_fingerprint"],
        up_to_date=report["up_to_date"],
        models=[_model(row) for row in report["models"]],
        overrides=[_override(row) for row in report["overrides"]],
        unpriced=[
            UnpricedModel(
                **{**r, "first_call": utc(r["first_call"]), "last_call": utc(r["last_call"])}
            )
            for r in report["unpriced"]
        ],
        reprices=[
            RepriceRecord(
                **{
                    **r,
                    "from_time": utc(r["from_time"]),
                    "requested_at": utc(r["requested_at"]),
                    "done_at": utc(r["done_at"]),
                }
            )
            for r in report["reprices"]
        ],
        file_errors=context.price_file.errors if scope.unscoped else [],
    )


@router.post(
    "",
    response_model=OverrideRecord,
    status_code=201,
    summary="Add a price (override)",
    dependencies=change,
    responses={
        **errors(400, 403),
        422: {
            "model": ErrorDetail,
            "description": "The price is invalid; every problem is listed.",
        },
    },
)
def add_price(body: Annotated[OverrideIn, Body()], cursor: Cursor) -> OverrideRecord:
    """Add an override; it wins over the catalog from its `effective_from` on, and the
    calls it affects are re-priced by the next pricing run."""
    override_id = config_sync.add_price_override(cursor, body.model_dump(exclude_none=True))
    rows = price_report(cursor, reprices=0)["overrides"]
    return _override(next(r for r in rows if r["id"] == override_id))


@router.delete(
    "/{override_id}",
    status_code=204,
    summary="Delete a price (override)",
    dependencies=change,
    responses={
        **errors(403),
        404: {"model": ErrorDetail, "description": "No such override."},
        409: {"model": ErrorDetail, "description": "From the price file."},
    },
)
def delete_price(override_id: int, cursor: Cursor) -> Response:
    """Delete an override added through the API; the calls it priced are re-priced."""
    config_sync.delete_price_override(cursor, override_id)
    return Response(status_code=204)


@router.post(
    "/reload",
    response_model=PriceFileReloadResponse,
    summary="Re-read the price file",
    dependencies=change,
    responses=errors(403),
)
def reload_prices(cursor: Cursor, context: Context) -> PriceFileReloadResponse:
    """Re-read `<data_dir>/prices.toml` (or .yaml); an invalid file changes nothing."""
    synced = config_sync.reload_price_file(cursor, context.data_dir, gpu_prices, context.price_file)
    return PriceFileReloadResponse(
        file=str(synced.path) if synced.path else None, added=synced.added, removed=synced.removed
    )
