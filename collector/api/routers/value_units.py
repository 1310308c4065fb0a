"""`/api/v1/value-units/config`: each feature's value unit, changed while the service runs.

`GET` shows where each unit comes from (the value units file or SPENDSCOPE_VALUE_UNITS);
`PUT /{feature}` and `DELETE /{feature}` change the file (`<data_dir>/value_units.toml`,
`warehouse.config.value_units_file`), `POST /reload` re-reads it after an edit by hand.
Changes take effect at once for unit economics, sessions and value-unit totals, whose
outcomes are counted when asked. Changing is for unscoped tokens only (every tenant sees
the units); reading is for any API token.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field

from collector.api.deps import Context, full_access, read_scope
from collector.api.errors import COMMON, ErrorDetail, errors
from warehouse.config.value_units_file import FILE_NAME, MAX_FEATURE, MAX_OUTCOME, ValueUnits

Feature = Annotated[str, Path(min_length=1, max_length=MAX_FEATURE)]


class ValueUnitSetting(BaseModel):
    feature: str
    outcome: str = Field(description="The outcome name that counts one unit of value.")
    source: Literal["file", "setting"] = Field(
        description=f"{FILE_NAME} in the data directory, or SPENDSCOPE_VALUE_UNITS."
    )


class ValueUnitsConfig(BaseModel):
    file: str = Field(description="The value units file the API writes to.")
    value_units: list[ValueUnitSetting]


class NewValueUnit(BaseModel):
    outcome: str = Field(min_length=1, max_length=MAX_OUTCOME, examples=["ticket_resolved"])


def _units(context: Context) -> ValueUnits:
    units = context.value_units
    if not isinstance(units, ValueUnits):
        raise RuntimeError("this app's value units are fixed (ApiContext.value_units)")
    return units


def _config(units: ValueUnits) -> ValueUnitsConfig:
    from_file = units.from_file
    return ValueUnitsConfig(
        file=str(units.data_dir / FILE_NAME),
        value_units=[
            ValueUnitSetting(
                feature=feature,
                outcome=outcome,
                source="file" if feature in from_file else "setting",
            )
            for feature, outcome in sorted(units.items())
        ],
    )


router = APIRouter(
    prefix="/api/v1/value-units/config",
    tags=["outcomes"],
    dependencies=[Depends(read_scope)],
    responses=COMMON,
)
change = [Depends(full_access)]
INVALID = {"model": ErrorDetail, "description": "Invalid; every problem is listed."}


@router.get("", response_model=ValueUnitsConfig, summary="Each feature's value unit")
def get_config(context: Context) -> ValueUnitsConfig:
    """Each feature's value unit and where it comes from: the value units file, which
    overrides SPENDSCOPE_VALUE_UNITS feature by feature."""
    return _config(_units(context))


@router.put(
    "/{feature}",
    response_model=ValueUnitsConfig,
    summary="Set a feature's value unit",
    dependencies=change,
    responses={**errors(400, 403), 422: INVALID},
)
def put_unit(feature: Feature, unit: NewValueUnit, context: Context) -> ValueUnitsConfig:
    """Make `outcome` the feature's value unit (written to the value units file); it counts
    at once, history included."""
    units = _units(context)
    units.set(feature, unit.outcome)
    return _config(units)


@router.delete(
    "/{feature}",
    status_code=204,
    summary="Remove a feature's value unit from the file",
    dependencies=change,
    responses={**errors(403), 404: {"model": ErrorDetail, "description": "Not in the file."}},
)
def delete_unit(feature: Feature, context: Context) -> Response:
    """Take the feature out of the value units file; SPENDSCOPE_VALUE_UNITS's unit for it,
    if any, applies again."""
    _units(context).remove(feature)
    return Response(status_code=204)


@router.post(
    "/reload",
    response_model=ValueUnitsConfig,
    summary="Re-read the value units file",
    dependencies=change,
    responses={**errors(400, 403), 422: INVALID},
)
def reload_units(context: Context) -> ValueUnitsConfig:
    """Re-read `<data_dir>/value_units.toml` after an edit; an invalid file changes
    nothing (422 with every error)."""
    units = _units(context)
    units.reload()
    return _config(units)
