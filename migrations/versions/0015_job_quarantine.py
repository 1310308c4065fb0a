"""Job quarantine: an input range that fails every time is set aside, not retried forever.

`job_attempts` holds, per job, the input range (low, high] the job is working through and
how many times in a row it has failed there. The count is raised and committed before the
step runs, so a process that dies during the step (out of memory, killed) counts too; a
success clears it in the step's own transaction.

`job_quarantine` holds the ranges a job set aside after failing on them repeatedly, with
the last error: the job's watermark moved past them, `GET /api/v1/jobs` and `/readyz` show
them, and `spendscope jobs retry` runs one again.

Bookkeeping only: downgrading drops both tables (a quarantined range stays skipped).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_attempts",
        sa.Column("name", sa.String, nullable=False),
        sa.Column("low", sa.BigInteger, nullable=False),
        sa.Column("high", sa.BigInteger, nullable=False),
        sa.Column("suspect_high", sa.BigInteger, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("name", name="pk_job_attempts"),
    )
    op.create_table(
        "job_quarantine",
        sa.Column("name", sa.String, nullable=False),
        sa.Column("low", sa.BigInteger, nullable=False),
        sa.Column("high", sa.BigInteger, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("quarantined_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", "low", name="pk_job_quarantine"),
        sa.CheckConstraint("high > low", name="ck_job_quarantine_range"),
    )


def downgrade() -> None:
    op.drop_table("job_quarantine")
    op.drop_table("job_attempts")
