"""Release requests, their decisions and releases; what a recording shows.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_flags",
        sa.Column("evidence_id", sa.String(32), sa.ForeignKey("evidence.id"), primary_key=True),
        sa.Column("flag", sa.String(32), primary_key=True),
    )
    op.create_table(
        "requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "case_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("cases.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("requester", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("received_at", sa.String(10), nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),  # JSON list; [] = all of the case
        sa.Column("ranges", sa.Text, nullable=False),  # JSON list of [start, end]
        sa.Column("misconduct_complaint", sa.Boolean, nullable=False),
        sa.Column("allegation_on", sa.String(10), nullable=True),
        sa.Column("incident_on", sa.String(10), nullable=True),
        sa.Column("critical_incident", sa.Boolean, nullable=False),
        sa.Column("due", sa.String(10), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "request_id", sa.String(32), sa.ForeignKey("requests.id"), nullable=False, index=True
        ),
        sa.Column("decided_at", sa.String(40), nullable=False),
        sa.Column("decider", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("proposed_outcome", sa.String(16), nullable=False),
        sa.Column("override_reason", sa.Text, nullable=True),
        sa.Column("pack_name", sa.String(64), nullable=False),
        sa.Column("pack_sha256", sa.String(64), nullable=False),
        sa.Column("facts", sa.Text, nullable=False),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("audit_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "releases",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("request_id", sa.String(32), sa.ForeignKey("requests.id"), nullable=False),
        sa.Column("decision_id", sa.String(32), sa.ForeignKey("decisions.id"), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("audit_seq", sa.BigInteger, nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER decisions_no_{verb.lower()} BEFORE {verb} ON decisions "
                "BEGIN SELECT RAISE(ABORT, 'decisions is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON decisions "
            "FOR EACH ROW EXECUTE FUNCTION custodes_append_only()"
        )


def downgrade() -> None:
    raise RuntimeError("decision records cannot be downgraded away")
