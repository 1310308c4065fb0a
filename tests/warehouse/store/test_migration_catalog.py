"""Every revision builds the schema recorded when it was written, up and down.

The migrations share helpers (`migrations/columns.py`, `migrations/tables.py`): a change to
one must not change what an old revision builds. `migration_catalog.txt` records, for every
revision, the rows of `duckdb_columns()`, `duckdb_constraints()`, `duckdb_indexes()`,
`duckdb_views()` and `duckdb_sequences()` of the database's main schema, every field but the
oids, the database name and `constraint_index` (they depend on the file, or count across the
whole database in the order things were created). It stores each revision as the rows it
adds (`+`) to and removes (`-`) from the one below, so it reads as the history of the
schema. The test migrates an empty database up one revision at a time and back down, and
compares each step's full dump with the record.

A new revision: `python -m tests.warehouse.store.test_migration_catalog` appends the
revisions the record lacks (check the lines it adds); it never rewrites a recorded one.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
from alembic.script import ScriptDirectory

from warehouse.store import migrate

RECORD = Path(__file__).with_name("migration_catalog.txt")
CATALOGS = (
    "duckdb_columns",
    "duckdb_constraints",
    "duckdb_indexes",
    "duckdb_views",
    "duckdb_sequences",
)
UNSTABLE = {"database_name", "constraint_index"}  # and every `*_oid`
BASE = "base"
HEADER = """\
# The schema each migration revision builds: rows of the DuckDB catalog functions it adds (+)
# and removes (-) from the revision above. Written by tests/warehouse/store/
# test_migration_catalog.py (run it as a module to append a new revision); never edit a
# recorded revision: a migration must keep building what it built.
"""


def dump(path: Path) -> list[str]:
    """The catalog rows of `path`'s main schema, one JSON line each, sorted."""
    lines: list[str] = []
    with duckdb.connect(str(path), read_only=True) as conn:
        for catalog in CATALOGS:
            cursor = conn.execute(
                f"SELECT * FROM {catalog}()"
                " WHERE database_name = current_database() AND schema_name = 'main'"
            )
            names = [column[0] for column in cursor.description]
            kept = [
                i
                for i, name in enumerate(names)
                if name not in UNSTABLE and not name.endswith("_oid")
            ]
            lines.append(json.dumps([catalog, *(names[i] for i in kept)]))
            for row in cursor.fetchall():
                lines.append(json.dumps([catalog, *(row[i] for i in kept)], default=str))
    assert len(set(lines)) == len(lines), "catalog rows are not unique"
    return sorted(lines)


def read_record() -> dict[str, list[str]]:
    """Each recorded revision's full dump, rebuilt from the record's differences."""
    dumps: dict[str, list[str]] = {}
    current: set[str] = set()
    revision: str | None = None
    for line in RECORD.read_text().splitlines():
        if line.startswith("## "):
            if revision is not None:
                dumps[revision] = sorted(current)
            revision = line[3:]
        elif line.startswith("+ "):
            current.add(line[2:])
        elif line.startswith("- "):
            current.remove(line[2:])
    if revision is not None:
        dumps[revision] = sorted(current)
    return dumps


def difference(below: list[str], above: list[str]) -> list[str]:
    removed, added = set(below) - set(above), set(above) - set(below)
    return [f"- {line}" for line in sorted(removed)] + [f"+ {line}" for line in sorted(added)]


def revisions(path: Path) -> list[str]:
    """`base`, then the revisions from the first to the head."""
    script = ScriptDirectory.from_config(migrate.alembic_config(path))
    return [BASE, *[r.revision for r in script.walk_revisions()][::-1]]


def walk_up(path: Path) -> Iterator[tuple[str, list[str]]]:
    """Migrate `path` from nothing to the head one revision at a time: each revision's dump."""
    for revision in revisions(path):
        migrate.upgrade(path, revision)
        yield revision, dump(path)


def test_every_revision_builds_the_recorded_schema_up_and_down(tmp_path: Path) -> None:
    path = tmp_path / "spendscope.duckdb"
    record = read_record()
    built: list[tuple[str, list[str]]] = []
    for revision, shot in walk_up(path):
        assert revision in record, f"{revision} is not recorded: run this module to record it"
        assert shot == record[revision], f"{revision} builds another schema than recorded:\n" + (
            "\n".join(difference(record[revision], shot))
        )
        built.append((revision, shot))
    for below, shot in built[-2::-1]:
        migrate.downgrade(path, below)
        assert dump(path) == shot, f"downgrading to {below} leaves another schema:\n" + (
            "\n".join(difference(shot, dump(path)))
        )


def test_the_record_lists_the_revisions_in_order() -> None:
    with tempfile.TemporaryDirectory() as folder:
        assert list(read_record()) == revisions(Path(folder) / "spendscope.duckdb")


def append_missing() -> None:
    """Append the revisions the record lacks; check that the recorded ones still hold."""
    record = read_record() if RECORD.exists() else {}
    lines = [] if RECORD.exists() else [HEADER.rstrip("\n")]
    below: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        for revision, shot in walk_up(Path(folder) / "spendscope.duckdb"):
            if revision in record:
                assert shot == record[revision], f"{revision} no longer builds its record"
            else:
                lines += [f"## {revision}", *difference(below, shot)]
            below = shot
    if lines:
        with RECORD.open("a") as out:
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    append_missing()
