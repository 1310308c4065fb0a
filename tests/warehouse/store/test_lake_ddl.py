"""The migrations' DDL as a lake takes it (`warehouse.store.lake_ddl.translate`): what DuckLake
lacks is left out, a sequence becomes a row, everything else runs as written."""

from __future__ import annotations

from warehouse.store.lake_ddl import NO_OP, translate


def test_constraints_defaults_from_sequences_and_compression_are_left_out() -> None:
    statement = (
        "CREATE TABLE alert_mutes (id BIGINT DEFAULT nextval('alert_mutes_id_seq') NOT NULL, "
        "series VARCHAR USING COMPRESSION uncompressed NOT NULL, until TIMESTAMP, "
        "n INTEGER CHECK (n > (0)), CONSTRAINT pk_alert_mutes PRIMARY KEY (id), "
        "CONSTRAINT ck_range CHECK (until > '2020-01-01'), UNIQUE (series))"
    )
    assert translate(statement) == (
        "CREATE TABLE alert_mutes (id BIGINT NOT NULL, series VARCHAR NOT NULL, "
        "until TIMESTAMP, n INTEGER)"
    )


def test_indexes_are_skipped_and_sequences_become_rows() -> None:
    assert translate("CREATE UNIQUE INDEX ix_a ON a (b)") == NO_OP
    assert translate("DROP INDEX ix_a") == NO_OP
    assert translate("CREATE SEQUENCE gate_runs_id_seq START 1") == (
        "INSERT INTO store_sequences VALUES ('gate_runs_id_seq', 0)"
    )
    assert translate("DROP SEQUENCE gate_runs_id_seq") == (
        "DELETE FROM store_sequences WHERE name = 'gate_runs_id_seq'"
    )


def test_other_statements_run_as_written() -> None:
    for statement in (
        "UPDATE spans SET events = '[]' WHERE events IS NULL",
        "CREATE TABLE t AS SELECT 1 AS a",
        "ALTER TABLE spans ADD COLUMN tier VARCHAR",
        "INSERT INTO t VALUES ('a, (b)', 1)",
    ):
        assert translate(statement) == statement
