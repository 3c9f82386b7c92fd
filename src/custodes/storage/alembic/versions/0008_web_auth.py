"""Web authentication (issue 18): TOTP secrets, recovery codes, failed sign-ins, server
sessions and API tokens.

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "totp_secrets",
        sa.Column("user_id", _Id, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("secret", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("confirmed_at", sa.String(40), nullable=True),
        sa.Column("last_step", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("user_id", _Id, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("used_at", sa.String(40), nullable=True),
    )
    op.create_table(
        "sign_in_failures",
        sa.Column("user_id", _Id, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("first_at", sa.String(40), nullable=False),
        sa.Column("locked_until", sa.String(40), nullable=True),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("short_id", sa.String(16), nullable=False, unique=True),
        sa.Column("user_id", _Id, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("last_seen_at", sa.String(40), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.Text, nullable=False),
        sa.Column("second_factor_at", sa.String(40), nullable=True),
        sa.Column("second_factor", sa.String(16), nullable=True),
        sa.Column("ended_at", sa.String(40), nullable=True),
        sa.Column("ended_why", sa.String(32), nullable=True),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", _Id, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.String(40), nullable=False),
        sa.Column("revoked_at", sa.String(40), nullable=True),
        sa.Column("last_used_at", sa.String(40), nullable=True),
        sa.Column("use_logged_at", sa.String(40), nullable=True),
    )


def downgrade() -> None:
    for name in (
        "api_tokens",
        "web_sessions",
        "sign_in_failures",
        "recovery_codes",
        "totp_secrets",
    ):
        op.drop_table(name)
