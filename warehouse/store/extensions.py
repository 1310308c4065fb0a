"""DuckDB extensions loaded offline from their PyPI wheels (ducklake, postgres).

`INSTALL` would download; the `duckdb-extension-*` wheels ship the extension files instead.
DuckDB looks for `<extension_directory>/v<version>/<platform>/<name>.duckdb_extension`, so
`extension_directory()` lays out such a directory of links to the wheels' files (the postgres
wheel's file under DuckDB's name for it, `postgres_scanner`), and `connection_config()` points
a new connection at it with automatic installation and loading off.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile
from pathlib import Path

import duckdb

# The wheel's module, its file's name in the wheel, the file's name DuckDB looks for.
_WHEELS = {
    "ducklake": ("duckdb_extension_ducklake", "ducklake", "ducklake"),
    "postgres": ("duckdb_extension_postgres", "postgres", "postgres_scanner"),
}
LAKE_EXTENSIONS = ("ducklake", "postgres")


class ExtensionMissing(RuntimeError):
    """An extension's wheel is not installed (the lake backend needs it)."""


def _version() -> str:
    return f"v{duckdb.__version__}"


def _platform() -> str:
    row = duckdb.execute("PRAGMA platform").fetchone()
    assert row is not None
    return str(row[0])


def wheel_file(name: str) -> Path:
    """The extension file the wheel of `name` ships for this DuckDB version."""
    module, file_name, _ = _WHEELS[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionMissing(
            f"the DuckDB {name} extension is not installed: "
            f"pip install {module.replace('_', '-')}=={duckdb.__version__}"
        )
    path = Path(next(iter(spec.submodule_search_locations)))
    path = path / "extensions" / _version() / f"{file_name}.duckdb_extension"
    if not path.exists():
        raise ExtensionMissing(f"{path} is missing: the wheel does not match duckdb {_version()}")
    return path


def extension_directory(root: Path | None = None) -> Path:
    """A directory DuckDB can load the lake's extensions from (links to the wheels' files);
    by default one per user under the temporary directory, made once and reused."""
    root = root or Path(tempfile.gettempdir()) / f"spendscope-duckdb-extensions-{os.getuid()}"
    folder = root / _version() / _platform()
    folder.mkdir(parents=True, exist_ok=True)
    for name in LAKE_EXTENSIONS:
        target = wheel_file(name)
        link = folder / f"{_WHEELS[name][2]}.duckdb_extension"
        if link.is_symlink() and link.resolve() == target.resolve():
            continue
        staging = folder / f".{link.name}.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        staging.symlink_to(target)
        staging.replace(link)  # atomic: a concurrent process sees the old link or the new one
    return root


def connection_config(directory: Path) -> dict[str, str | bool | int | float | list[str]]:
    """The settings of a connection that loads extensions from `directory` only."""
    return {
        "extension_directory": str(directory),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }


def load(connection: duckdb.DuckDBPyConnection, names: tuple[str, ...] = LAKE_EXTENSIONS) -> None:
    for name in names:
        connection.execute(f"LOAD {name}")
