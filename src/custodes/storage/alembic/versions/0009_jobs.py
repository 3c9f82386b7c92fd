"""Jobs (issues 18 and 19): the jobs table, and on PostgreSQL Procrastinate's schema.

Procrastinate's own tables and functions (``procrastinate_jobs``, ``procrastinate_defer_
jobs_v1``, ...) are created in the vault's schema here, from the SQL of the installed
Procrastinate (``SchemaManager.get_schema()``), so that a job row, its audit event and
the engine's queue entry commit in one transaction. A later Procrastinate that changes
its schema ships SQL migrations of its own: apply them with a custodes migration.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False, index=True),
        sa.Column("requested_at", sa.String(40), nullable=False),
        sa.Column("audit_seq", sa.BigInteger, nullable=False),
        sa.Column("case_number", sa.String(64), nullable=True, index=True),
        sa.Column("evidence_id", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("progress_label", sa.String(64), nullable=True),
        sa.Column("progress_done", sa.Float, nullable=True),
        sa.Column("progress_total", sa.Float, nullable=True),
        sa.Column("progress_unit", sa.String(16), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(128), nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.sql.false()),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("started_at", sa.String(40), nullable=True),
        sa.Column("finished_at", sa.String(40), nullable=True),
        sa.Column("updated_at", sa.String(40), nullable=True),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        from procrastinate.schema import SchemaManager

        # The driver's own execute: the SQL holds % and : that neither SQLAlchemy's
        # text() nor a parameter style may rewrite. Same connection, same transaction.
        driver = bind.connection.driver_connection
        assert driver is not None
        driver.execute(SchemaManager.get_schema())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        from custodes.storage.migrations import DROP_PROCRASTINATE

        bind.exec_driver_sql(DROP_PROCRASTINATE)
    op.drop_table("jobs")
