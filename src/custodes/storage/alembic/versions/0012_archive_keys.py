"""Archive index keys (issue 20): one row of keys per fingerprinted evidence item.

Revision ID: 0012
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_keys",
        sa.Column("evidence_id", sa.String(32), sa.ForeignKey("evidence.id"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("archive_keys")
