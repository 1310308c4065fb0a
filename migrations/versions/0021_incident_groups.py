"""Alert incidents: `group_id`, the incident whose page a group of related incidents shares.

The total, a feature and its feature x model series firing for the same cause in
overlapping windows are one page (`warehouse/incidents/grouping.py`): each keeps its own
incident, and `group_id` names the group's first incident, which holds the page's dedup key
and what was sent. Existing incidents are groups of one (their own id). Downgrading drops the
column: every incident pages on its own again.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alert_incidents", sa.Column("group_id", sa.BigInteger))
    op.execute("UPDATE alert_incidents SET group_id = id")


def downgrade() -> None:
    op.drop_column("alert_incidents", "group_id")
