"""The value units file: parsed with every error named, written atomically and read back
exactly, over the SPENDSCOPE_VALUE_UNITS setting feature by feature."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.config.value_units_file import (
    FILE_NAME,
    ValueUnits,
    ValueUnitsFileError,
    load,
    write,
)
from warehouse.core.errors import NotFound

SETTING = {"support-agent": "ticket_resolved", "search": "search_succeeded"}


def test_the_file_overrides_the_setting_feature_by_feature(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text('[value_units]\nsearch = "result_clicked"\nnew = "done"\n')
    units = ValueUnits(SETTING, tmp_path)
    assert dict(units) == SETTING  # until loaded
    assert units.reload() == {"search": "result_clicked", "new": "done"}
    assert dict(units) == {
        "support-agent": "ticket_resolved",
        "search": "result_clicked",
        "new": "done",
    }


def test_changes_are_written_to_the_file_and_survive_a_new_start(tmp_path: Path) -> None:
    units = ValueUnits(SETTING, tmp_path)
    units.set("writing assistant", 'draft "saved"')  # a space and quotes: quoted in TOML
    units.set("search", "result_clicked")
    again = ValueUnits(SETTING, tmp_path)
    again.reload()
    assert again["writing assistant"] == 'draft "saved"' and again["search"] == "result_clicked"
    units.remove("search")  # the setting's unit applies again
    assert units["search"] == "search_succeeded"
    assert load(tmp_path) == {"writing assistant": 'draft "saved"'}
    with pytest.raises(NotFound):
        units.remove("support-agent")  # only in the setting
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_invalid_file_names_each_problem_and_changes_nothing(tmp_path: Path) -> None:
    units = ValueUnits(SETTING, tmp_path)
    units.set("search", "result_clicked")
    (tmp_path / FILE_NAME).write_text(
        '[value_units]\nsearch = ""\nsupport-agent = 3\n[other]\nx = 1\n'
    )
    with pytest.raises(ValueUnitsFileError) as raised:
        units.reload()
    assert len(raised.value.errors) == 3
    assert "unknown section(s) other" in raised.value.errors[0]
    assert units["search"] == "result_clicked"  # the last good load stays
    (tmp_path / FILE_NAME).write_text("[value_units\n")
    with pytest.raises(ValueUnitsFileError):
        units.reload()
    with pytest.raises(ValueUnitsFileError):
        units.set("search", " ")


def test_no_file_is_no_entries(tmp_path: Path) -> None:
    assert load(tmp_path) == {}
    write(tmp_path, {})
    assert load(tmp_path) == {}
