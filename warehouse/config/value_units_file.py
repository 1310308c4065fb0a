"""The value units file: `<data_dir>/value_units.toml`, each feature's value unit, changed
while the service runs (by editing the file and reloading it, or through the API).

    # The outcome that counts one unit of value for each feature (docs/value-units.md).
    [value_units]
    support-agent = "ticket_resolved"
    search = "search_succeeded"

The file is the one place they are kept: the API's changes are written to it (the whole
file, atomically: a temporary file renamed over it), so an edit by hand and a change
through the API never disagree, and a restart keeps both. Its entries override the
SPENDSCOPE_VALUE_UNITS setting feature by feature; a feature only in the setting keeps the
setting's unit.

`ValueUnits` is what the service reads: a mapping (feature -> outcome name) that is the
setting's pairs under the file's, replaced as a whole on each load, so a reader never sees
half a change. Errors name the file and the entry; an invalid file changes nothing.
"""

from __future__ import annotations

import os
import re
import threading
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path

from warehouse.core.errors import InvalidEntries, NotFound

FILE_NAME = "value_units.toml"
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # TOML keys written without quotes
SECTION = "value_units"
MAX_FEATURE = 512  # as the API's filters
MAX_OUTCOME = 200  # as an outcome's name (docs/value-units.md)
HEADER = (
    "# Each feature's value unit: the outcome that counts one unit of value for it\n"
    "# (docs/value-units.md). Edit, then `POST /api/v1/value-units/config/reload`; or\n"
    "# change it with `PUT /api/v1/value-units/config/{feature}`, which rewrites this file.\n"
)


class ValueUnitsFileError(InvalidEntries):
    """The value units file (or a change to it) cannot be used; `errors` names each."""


def check_unit(feature: object, outcome: object, where: str) -> list[str]:
    """What is wrong with one `feature = outcome` entry (nothing: an empty list)."""
    errors = []
    if not isinstance(feature, str) or not feature.strip() or len(feature) > MAX_FEATURE:
        errors.append(f"{where}: the feature must be 1-{MAX_FEATURE} characters")
    if not isinstance(outcome, str) or not 1 <= len(outcome.strip()) <= MAX_OUTCOME:
        errors.append(f"{where}: the outcome name must be 1-{MAX_OUTCOME} characters")
    return errors


def parse(data: Mapping[str, object], source: str) -> dict[str, str]:
    unknown = sorted(set(data) - {SECTION})
    errors = [f"{source}: unknown section(s) {', '.join(unknown)}"] if unknown else []
    table = data.get(SECTION, {})
    if not isinstance(table, Mapping):
        raise ValueUnitsFileError([*errors, f"{source}: [{SECTION}] must be a table"])
    for feature, outcome in table.items():
        errors += check_unit(feature, outcome, f"{source}: {feature!r}")
    if errors:
        raise ValueUnitsFileError(errors)
    return {str(feature).strip(): str(outcome).strip() for feature, outcome in table.items()}


def load(data_dir: Path) -> dict[str, str]:
    """The file's value units (none when there is no file)."""
    path = data_dir / FILE_NAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueUnitsFileError([f"{path}: {exc}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueUnitsFileError([f"{path}: {exc}"]) from None
    return parse(data, str(path))


def _quoted(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's for these characters)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


def _key(feature: str) -> str:
    return feature if BARE_KEY.fullmatch(feature) else _quoted(feature)


def write(data_dir: Path, units: Mapping[str, str]) -> Path:
    """The file holding exactly `units`, replaced atomically."""
    path = data_dir / FILE_NAME
    lines = [HEADER, f"[{SECTION}]"]
    lines += [f"{_key(feature)} = {_quoted(outcome)}" for feature, outcome in units.items()]
    temporary = path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
    temporary.write_text("\n".join(lines) + "\n")
    os.replace(temporary, path)
    return path


class ValueUnits(Mapping[str, str]):
    """Each feature's value unit as the service uses it: the setting's, under the file's.
    Reads see one whole load; changes (through the file) are serialized."""

    def __init__(self, defaults: Mapping[str, str], data_dir: Path) -> None:
        self.defaults = dict(defaults)
        self.data_dir = data_dir
        self._file: dict[str, str] = {}
        self._units = dict(self.defaults)
        self._lock = threading.Lock()

    def __getitem__(self, feature: str) -> str:
        return self._units[feature]

    def __iter__(self) -> Iterator[str]:
        return iter(self._units)

    def __len__(self) -> int:
        return len(self._units)

    @property
    def from_file(self) -> dict[str, str]:
        """The file's entries as last loaded."""
        return dict(self._file)

    def reload(self) -> dict[str, str]:
        """Re-read the file (ValueUnitsFileError, changing nothing, when it is invalid);
        returns the file's entries."""
        with self._lock:
            self._use(load(self.data_dir))
            return dict(self._file)

    def set(self, feature: str, outcome: str) -> None:
        """Make `outcome` the feature's value unit, in the file."""
        errors = check_unit(feature, outcome, f"value unit of {feature!r}")
        if errors:
            raise ValueUnitsFileError(errors)
        with self._lock:
            units = load(self.data_dir)
            units[feature.strip()] = outcome.strip()
            write(self.data_dir, units)
            self._use(units)

    def remove(self, feature: str) -> None:
        """Take the feature out of the file (NotFound when the file does not name it); the
        setting's unit for it, if any, applies again."""
        with self._lock:
            units = load(self.data_dir)
            if feature not in units:
                raise NotFound(f"{FILE_NAME} has no value unit for {feature!r}")
            del units[feature]
            write(self.data_dir, units)
            self._use(units)

    def _use(self, units: dict[str, str]) -> None:
        self._file = units
        self._units = {**self.defaults, **units}
