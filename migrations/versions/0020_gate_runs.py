"""The CI cost gate's runs, when a recording posts them to the service (`gate_runs`: one row a
run, with its whole document). See `warehouse/store/schema/gate.py`. Downgrading drops the
table and its sequence.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE gate_runs_id_seq START 1")
    op.create_table(
        "gate_runs",
        sa.Column(
            "id",
            sa.BigInteger,
            nullable=False,
            server_default=sa.text("nextval('gate_runs_id_seq')"),
        ),
        sa.Column("label", sa.String, nullable=False),
        sa.Column("commit", sa.String),
        sa.Column("branch", sa.String),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("repetitions", sa.Integer, nullable=False),
        sa.Column("calls", sa.BigInteger, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gate_runs"),
    )


def downgrade() -> None:
    op.drop_table("gate_runs")
    op.execute("DROP SEQUENCE gate_runs_id_seq")
