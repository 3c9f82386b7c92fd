"""What the application's PostgreSQL role may do: the least the code needs.

A production vault has two roles (docs/deployment.md): the *owner*, who runs
``custodes init`` and the migrations and owns every table, and the *application* role
the web server and workers connect as. The owner grants the application role SELECT and
INSERT on every custodes table, and UPDATE or DELETE only on the tables the code changes
in place (:data:`MUTABLE`). The audit log, its checkpoints, decisions and every other
record of evidence are therefore append-only twice over: by triggers (which the owner
could drop) and by grants (which the application role cannot change, since it owns
nothing). ``custodes db grant ROLE`` applies :func:`grant_statements`; ``--sql`` prints
them for a database administrator.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.engine import Engine

from custodes.core.errors import InvalidInput
from custodes.storage import tables as t

MUTABLE: dict[str, tuple[str, ...]] = {
    # table: what the code does to its rows besides reading and inserting them
    "log_state": ("UPDATE",),  # the log's running head (one row)
    "users": ("UPDATE",),
    "cases": ("UPDATE",),
    "case_members": ("UPDATE",),
    "fingerprints": ("UPDATE",),
    "evidence_flags": ("DELETE",),
    "totp_secrets": ("UPDATE", "DELETE"),
    "recovery_codes": ("UPDATE", "DELETE"),
    "sign_in_failures": ("DELETE",),
    "web_sessions": ("UPDATE",),
    "api_tokens": ("UPDATE",),
    # passkeys: sign count, name and last use updated; removed by their user
    "webauthn_credentials": ("UPDATE", "DELETE"),
    "webauthn_challenges": ("DELETE",),  # used once, then gone
    "jobs": ("UPDATE",),  # status and progress (docs/workers.md); their facts are on the log
    "viewings": ("UPDATE",),
    # the archive index's keys (operational, docs/audit-log.md): replaced on a rebuild,
    # removed with their recording
    "archive_keys": ("UPDATE", "DELETE"),  # the ranges sent so far (operational, docs/audit-log.md)
}
"""The tables whose rows the application changes or removes, and how. Every other
table is append-only for the application role. A repository that updates or deletes
rows of a new table must name it here (tests/storage/test_grants.py checks)."""

APPEND_ONLY_TRIGGERED = ("audit_events", "checkpoints", "decisions")
"""The tables whose triggers refuse UPDATE, DELETE and TRUNCATE to every role."""

_ROLE = re.compile(r"[a-z_][a-z0-9_$]{0,62}")


def check_role(role: str) -> str:
    """The role name, or InvalidInput (a plain lowercase identifier, no quoting)."""
    if _ROLE.fullmatch(role) is None:
        raise InvalidInput(
            f"not a PostgreSQL role name: {role!r} (lowercase letters, digits, '_')",
            field="role",
        )
    return role


def grant_statements(
    role: str, tables: list[str] | None = None, queue_tables: list[str] | None = None
) -> list[str]:
    """The SQL that gives ``role`` what the application needs on ``tables`` (default:
    every custodes table) in the current schema, and takes back anything more."""
    role = check_role(role)
    names = sorted(tables if tables is not None else t.metadata.tables)
    out = [f"GRANT USAGE ON SCHEMA current_schema_placeholder TO {role}"]
    for name in names:
        out.append(f"REVOKE ALL ON TABLE {name} FROM {role}")
        verbs = ("SELECT", "INSERT", *MUTABLE.get(name, ()))
        out.append(f"GRANT {', '.join(verbs)} ON TABLE {name} TO {role}")
    for name in queue_tables or ():
        # Procrastinate's queue (docs/workers.md): workers fetch, lock, finish and delete
        # its rows; what a job did is on the log and in the custodes jobs table.
        out.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE {name} TO {role}")
    out.append(f"REVOKE ALL ON TABLE alembic_version FROM {role}")
    out.append(f"GRANT SELECT ON TABLE alembic_version TO {role}")
    out.append(
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA current_schema_placeholder TO {role}"
    )
    return out


def grant_app_role(engine: Engine, role: str, *, apply: bool = True) -> list[str]:
    """Grant ``role`` the application's rights on the vault's tables (in the schema the
    connection's search path names); returns the statements. PostgreSQL only."""
    check_role(role)
    if engine.dialect.name != "postgresql":
        raise InvalidInput("grants are for a PostgreSQL database (SQLite has no roles)")
    with engine.begin() as conn:
        schema = str(conn.execute(text("SELECT current_schema()")).scalar())
        present = set(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            ).scalars()
        )
        tables = [name for name in t.metadata.tables if name in present]
        queue = sorted(name for name in present if name.startswith("procrastinate_"))
        statements = [
            s.replace("current_schema_placeholder", _quote(schema))
            for s in grant_statements(role, tables, queue)
        ]
        if apply:
            for statement in statements:
                conn.exec_driver_sql(statement)
    return statements


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
