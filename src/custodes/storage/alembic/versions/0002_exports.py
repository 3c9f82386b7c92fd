"""Exports (watermarked derivatives), traces, and cached fingerprints.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "evidence_id", sa.String(32), sa.ForeignKey("evidence.id"), nullable=False, index=True
        ),
        sa.Column("recipient", sa.String(128), nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("start_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("visible_mark", sa.Boolean, nullable=False),
        sa.Column("key_version", sa.Integer, nullable=False),
        sa.Column("output_sha256", sa.String(64), nullable=False),
        sa.Column("output_size", sa.BigInteger, nullable=False),
        sa.Column("lineage", sa.Text, nullable=False),  # JSON: source, operations, versions
        sa.Column("audit_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "fingerprints",
        sa.Column("evidence_id", sa.String(32), sa.ForeignKey("evidence.id"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "traces",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("leak_sha256", sa.String(64), nullable=False),
        sa.Column("leak_name", sa.Text, nullable=False),
        sa.Column("verdict", sa.String(32), nullable=False),
        sa.Column("evidence_id", sa.String(32), nullable=True),
        sa.Column("result", sa.Text, nullable=False),  # the JSON printed by `custodes trace`
        sa.Column("audit_seq", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("traces")
    op.drop_table("fingerprints")
    op.drop_table("exports")
