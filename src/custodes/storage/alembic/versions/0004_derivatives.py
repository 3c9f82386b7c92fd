"""Derivatives of evidence other than exports (redacted copies), kept as blobs.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "derivatives",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "evidence_id", sa.String(32), sa.ForeignKey("evidence.id"), nullable=False, index=True
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("sidecar_sha256", sa.String(64), nullable=False),
        sa.Column("frames_redacted", sa.Integer, nullable=False),
        sa.Column("lineage", sa.Text, nullable=False),
        sa.Column("audit_seq", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("derivatives")
