"""docs/configuration.md documents every setting, with the code's flags and defaults.

(The Datasette habit: a test fails when a setting is added without its documentation.)
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer.main

from collector.cli.main import cli
from collector.settings import Settings
from dashboard.settings import DashboardSettings
from tests.support.paths import REPO

DOC = REPO / "docs" / "configuration.md"
HEADING = re.compile(r"^### `(SPENDSCOPE_[A-Z0-9_]+)`$", re.MULTILINE)


def sections() -> dict[str, str]:
    """Environment variable -> the text of its section."""
    text = DOC.read_text()
    found = list(HEADING.finditer(text))
    result: dict[str, str] = {}
    for match, following in zip(found, [*found[1:], None], strict=True):
        end = following.start() if following else len(text)
        body = text[match.end() : end].split("\n## ", 1)[0]
        assert match.group(1) not in result, f"{match.group(1)} is documented twice"
        result[match.group(1)] = body
    return result


def env_name(field: str) -> str:
    prefix = Settings.model_config.get("env_prefix", "")
    return f"{prefix}{field}".upper()


def line(section: str, label: str) -> str:
    match = re.search(rf"^- {label}: (.*)$", section, re.MULTILINE)
    assert match, f"no '- {label}:' line"
    return match.group(1).strip()


def rendered_default(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return f"`{','.join(value)}`" if value else "(empty)"
    if isinstance(value, dict):
        return f"`{','.join(f'{k}={v}' for k, v in value.items())}`" if value else "(empty)"
    return f"`{value}`"


def cli_flags() -> dict[str, set[str]]:
    """Setting name -> the flags that set it, over every command."""
    group = typer.main.get_command(cli)
    flags: dict[str, set[str]] = {}
    for command in group.commands.values():  # type: ignore[attr-defined]
        for param in command.params:
            if param.name in MODEL_FIELDS:
                flags.setdefault(param.name, set()).update(param.opts)
    return flags


# The service's settings and the dashboard's (its own process, its own settings object).
MODEL_FIELDS = {**Settings.model_fields, **DashboardSettings.model_fields}
assert not set(Settings.model_fields) & set(DashboardSettings.model_fields)
FIELDS = sorted(MODEL_FIELDS)


def test_every_documented_setting_exists() -> None:
    stale = set(sections()) - {env_name(name) for name in FIELDS}
    assert not stale, f"docs/configuration.md documents settings that do not exist: {stale}"


@pytest.mark.parametrize("name", FIELDS)
def test_setting_is_documented(name: str) -> None:
    documented = sections()
    assert env_name(name) in documented, f"{env_name(name)} is missing from {DOC.name}"
    section = documented[env_name(name)]
    field = MODEL_FIELDS[name]
    assert line(section, "Default") == rendered_default(
        field.get_default(call_default_factory=True)
    ), f"{env_name(name)}: the documented default differs from the code"
    flags = set(re.findall(r"`(--[a-z0-9-]+)`", line(section, "Flag")))
    assert flags == cli_flags().get(name, set()), f"{env_name(name)}: documented flags differ"
    prose = section.split("\n\n", 2)[-1].strip()
    assert len(prose) > 20, f"{env_name(name)} has no description"


def test_every_setting_has_a_description_in_the_code() -> None:
    assert [n for n in FIELDS if not MODEL_FIELDS[n].description] == []
