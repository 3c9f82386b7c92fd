"""The application's PostgreSQL role cannot UPDATE or DELETE the append-only tables
(issue 19): grants on top of the triggers, tested with a role made by the test."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from custodes import bootstrap
from custodes.config import Settings
from custodes.core.errors import InvalidInput
from custodes.services import cases
from custodes.services.verify import verify_vault
from custodes.storage import grants
from custodes.storage import tables as t
from tests.conftest import PG_URL

REPOSITORIES = Path(grants.__file__).parent / "repositories"


def test_every_table_a_repository_changes_is_named_mutable() -> None:
    changed: dict[str, set[str]] = {}
    for source in REPOSITORIES.glob("*.py"):
        for verb, table in re.findall(r"\b(update|delete)\(\s*t\.(\w+)", source.read_text()):
            changed.setdefault(table, set()).add(verb.upper())
    assert changed, "the pattern no longer finds the repositories' changes"
    for table, verbs in changed.items():
        assert verbs <= set(grants.MUTABLE.get(table, ())), (table, verbs)
    for table in grants.APPEND_ONLY_TRIGGERED:
        assert table not in grants.MUTABLE and table in t.metadata.tables


@pytest.mark.parametrize("role", ["", "App", "x; DROP TABLE users", "a" * 64])
def test_a_role_name_that_is_not_a_plain_identifier_is_refused(role: str) -> None:
    with pytest.raises(InvalidInput, match="role name"):
        grants.grant_statements(role)


@pytest.fixture
def app_role(pg_schema_url: str) -> Iterator[str]:
    role = "custodes_app_" + secrets.token_hex(4)
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} NOLOGIN"))
    try:
        yield role
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


def _as_role(url: str, role: str) -> str:
    """The same database and schema, the session acting as ``role`` (SET ROLE)."""
    parsed = make_url(url)
    options = f"{parsed.query['options']} -crole={role}"
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


@pytest.mark.postgres
def test_the_app_role_works_the_vault_but_cannot_change_its_records(
    tmp_path: Path, pg_schema_url: str, app_role: str
) -> None:
    owner = bootstrap.init_vault(Settings(home=tmp_path / "vault", database_url=pg_schema_url))
    statements = bootstrap.grant_app_role(owner.settings, app_role)
    assert any("GRANT SELECT, INSERT ON TABLE audit_events" in s for s in statements)
    owner.engine.dispose()

    app = bootstrap.open_vault(
        Settings(home=tmp_path / "vault", database_url=_as_role(pg_schema_url, app_role))
    )
    try:
        with app.engine.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == app_role
        cases.add_case(app, "admin", "G-1", title="as the application")  # it works the vault
        assert verify_vault(app, "admin").ok
        for sql in (
            "UPDATE audit_events SET actor = 'mallory'",
            "DELETE FROM audit_events",
            "DELETE FROM checkpoints",
            "UPDATE decisions SET outcome = 'x'",
            "TRUNCATE audit_events",
            "ALTER TABLE audit_events DISABLE TRIGGER ALL",
            "UPDATE evidence SET sha256 = 'x'",
        ):
            with app.engine.connect() as conn, pytest.raises(ProgrammingError) as info:
                conn.execute(text(sql))
            assert "permission denied" in str(info.value) or "must be owner" in str(info.value)
    finally:
        app.engine.dispose()
