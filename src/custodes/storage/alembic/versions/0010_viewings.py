"""Marked playback (issue 18): viewings, each a kind of export made for its viewer.

Revision ID: 0010
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "viewings",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "evidence_id", sa.String(32), sa.ForeignKey("evidence.id"), nullable=False, index=True
        ),
        sa.Column("viewer", sa.String(64), nullable=False),
        sa.Column("purpose", sa.Text, nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("expires_at", sa.String(40), nullable=False),
        sa.Column("start_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=False),
        sa.Column("segment_s", sa.Float, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("key_version", sa.Integer, nullable=False),
        sa.Column("mark", sa.Text, nullable=False),
        sa.Column("visible_text", sa.Text, nullable=False),
        sa.Column("audit_seq", sa.BigInteger, nullable=False),
        sa.Column("sent_from_s", sa.Float, nullable=True),
        sa.Column("sent_to_s", sa.Float, nullable=True),
        sa.Column("recorded_to_s", sa.Float, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("viewings")
