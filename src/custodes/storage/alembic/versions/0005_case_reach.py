"""An officer's reach to a case under internal-affairs investigation, restored by IA.

An officer assigned to a case flagged ``ia-investigation`` loses reach to it; internal
affairs gives it back, on record, by setting ``case_members.reach_restored``.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_members") as batch:
        batch.add_column(
            sa.Column("reach_restored", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("case_members") as batch:
        batch.drop_column("reach_restored")
