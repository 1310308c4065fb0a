"""Reconciliation with the bill: imported bills, and a signal kind for their gaps.

`bill_imports` (one row per import, its content's SHA-256 unique: the same bill imported
twice changes nothing), `bill_lines` (the bill's lines, keyed by their natural key so a
re-import replaces a line instead of adding it) and `bill_days` (the days each source covered
per provider). See `warehouse/store/schema/reconciliation.py`.

`alert_signals.kind` gains `reconciliation_gap`. DuckDB cannot alter a CHECK constraint, so
the table is rebuilt (create, copy, drop, rename) with its rows and ids; its sequence is
untouched. Downgrading deletes the `reconciliation_gap` signals (and the incidents they
opened keep their rows: `alert_incidents.kind` has no CHECK) before rebuilding the table
with the old constraint.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.columns import create_numbered_table, drop_numbered_table
from migrations.tables import create_alert_signals, rebuild

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(38, 12)
OLD_KINDS = "'spend_anomaly', 'runaway_session', 'budget'"
NEW_KINDS = f"{OLD_KINDS}, 'reconciliation_gap'"


def _rebuild_signals(kinds: str) -> None:
    rebuild("alert_signals", lambda name: create_alert_signals(name, kinds))


def upgrade() -> None:
    create_numbered_table(
        "bill_imports",
        sa.Column("source", sa.String, nullable=False),
        sa.Column("format", sa.String, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("sha256", sa.String, nullable=False),
        sa.Column("imported_at", sa.DateTime, nullable=False),
        sa.Column("lines", sa.BigInteger, nullable=False),
        sa.Column("changed_lines", sa.BigInteger, nullable=False),
        sa.Column("skipped_rows", sa.BigInteger, nullable=False),
        sa.Column("first_day", sa.Date),
        sa.Column("last_day", sa.Date),
        sa.UniqueConstraint("sha256", name="uq_bill_imports_sha256"),
        sa.CheckConstraint(
            "source IN ('openai', 'anthropic', 'focus')", name="ck_bill_imports_source"
        ),
    )
    op.create_table(
        "bill_lines",
        sa.Column("line_key", sa.String, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("period_start", sa.DateTime, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("provider", sa.String, nullable=False),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("project", sa.String, nullable=False),
        sa.Column("api_key", sa.String, nullable=False),
        sa.Column("tier", sa.String, nullable=False),
        sa.Column("token_class", sa.String, nullable=False),
        sa.Column("requests", sa.BigInteger),
        sa.Column("input_tokens", sa.BigInteger, nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger, nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger, nullable=False),
        sa.Column("output_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", MONEY),
        sa.Column("import_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("line_key", name="pk_bill_lines"),
        sa.CheckConstraint("kind IN ('usage', 'cost')", name="ck_bill_lines_kind"),
        sa.CheckConstraint(
            "token_class IN ('', 'input', 'cache_read', 'cache_write', 'output', 'other')",
            name="ck_bill_lines_token_class",
        ),
    )
    op.create_table(
        "bill_days",
        sa.Column("source", sa.String, nullable=False),
        sa.Column("provider", sa.String, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("import_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("source", "provider", "day", name="pk_bill_days"),
    )
    _rebuild_signals(NEW_KINDS)


def downgrade() -> None:
    op.execute("DELETE FROM alert_signals WHERE kind = 'reconciliation_gap'")
    _rebuild_signals(OLD_KINDS)
    op.drop_table("bill_days")
    op.drop_table("bill_lines")
    drop_numbered_table("bill_imports")
