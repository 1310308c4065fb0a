"""The export API: `GET /api/v1/export/focus`, the priced calls as a FOCUS 1.2 file (CSV or
Parquet) in the caller's tenant scope (`warehouse.export`, docs/focus.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Depends, Query, Response

from collector.api.deps import Context, Cursor, read_scope
from collector.api.errors import COMMON, ErrorDetail
from collector.api.window import End, Start, requested_window
from collector.auth import Scope
from warehouse.export.files import MEDIA_TYPES, render
from warehouse.export.focus import (
    BY_DIMENSIONS,
    DEFAULT_BY,
    FOCUS_VERSION,
    FocusQuery,
    aligned,
    focus_rows,
)
from warehouse.pricing.catalog_store import catalog_in_force

router = APIRouter(
    prefix="/api/v1",
    tags=["export"],
    dependencies=[Depends(read_scope)],
    responses=COMMON,
)
ByDimension = Literal["feature", "tenant", "environment"]
assert set(get_args(ByDimension)) == set(BY_DIMENSIONS)
FILE = {
    "description": "The FOCUS file. Headers: `X-Focus-Version`, `X-Spendscope-Window-Start`/"
    "`-End` (the window covered, whole days or hours), `X-Spendscope-Rows`, "
    "`X-Spendscope-Left-Out-Calls` (unpriced calls without a reported cost: no cost to state).",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
    },
}


@router.get(
    "/export/focus",
    summary="The priced calls as a FOCUS 1.2 file (CSV or Parquet)",
    response_class=Response,
    responses={
        200: FILE,
        400: {"model": ErrorDetail, "description": "A dimension given twice in `by`."},
    },
)
def get_focus(
    scope: Scope,
    cursor: Cursor,
    context: Context,
    start: Start = None,
    end: End = None,
    file_format: Annotated[
        Literal["csv", "parquet"], Query(alias="format", description="The file format.")
    ] = "csv",
    grain: Annotated[
        Literal["day", "hour"], Query(description="The charge period of a row (UTC).")
    ] = "day",
    by: Annotated[
        list[ByDimension] | None,
        Query(
            description="Dimensions a row is split by besides provider, model and SKU price "
            f"(repeated); default {', '.join(DEFAULT_BY)}. The others are empty."
        ),
    ] = None,
) -> Response:
    """One row per charge period (day or hour) x provider x model x `by` x SKU price (the
    token direction and cache action: `<provider>/<model>/input|cache_read|cache_write|
    output|request`), tokens as the consumed quantity. EffectiveCost, BilledCost and
    ContractedCost are spendscope's computed cost; ListCost is at the catalog's list price.
    `x_` columns: feature, tenant, environment, value unit, cost source (Computed or
    Reported), token direction, cache action, calls."""
    low, high = requested_window(start, end, dt.datetime.now(dt.UTC))
    window = aligned(low, high, grain)
    query = FocusQuery(*window, grain=grain, by=tuple(by or DEFAULT_BY))
    export = focus_rows(cursor, query, scope, catalog_in_force(cursor), context.value_units)
    extension = "csv" if file_format == "csv" else "parquet"
    name = f"focus-{window[0]:%Y%m%dT%H}-{window[1]:%Y%m%dT%H}.{extension}"
    return Response(
        render(export.rows, file_format),
        media_type=MEDIA_TYPES[file_format],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Focus-Version": FOCUS_VERSION,
            "X-Spendscope-Window-Start": f"{window[0]:%Y-%m-%dT%H:%M:%SZ}",
            "X-Spendscope-Window-End": f"{window[1]:%Y-%m-%dT%H:%M:%SZ}",
            "X-Spendscope-Rows": str(len(export.rows)),
            "X-Spendscope-Left-Out-Calls": str(export.left_out_calls),
        },
    )
