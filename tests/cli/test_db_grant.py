"""``custodes db grant ROLE [--sql]`` (issue 19), in process."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from custodes import bootstrap
from custodes.config import Settings
from custodes.core.errors import InvalidInput
from tests.cli.test_backup import cli


@pytest.mark.postgres
def test_grant_prints_the_statements_for_a_dba(
    tmp_path: Path,
    pg_schema_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "vault"
    bootstrap.init_vault(Settings(home=home, database_url=pg_schema_url)).engine.dispose()
    monkeypatch.setenv("CUSTODES_DATABASE_URL", pg_schema_url)
    code, out, err = cli(capsys, monkeypatch, "--home", str(home), "db", "grant", "app", "--sql")
    assert code == 0, err
    lines = out.splitlines()
    assert "GRANT SELECT, INSERT ON TABLE audit_events TO app;" in lines
    assert "GRANT SELECT, INSERT, UPDATE ON TABLE log_state TO app;" in lines
    assert not any(
        "audit_events" in ln and ("UPDATE" in ln or "DELETE" in ln)
        for ln in lines
        if ln.startswith("GRANT")
    )
    # printed, not run: the role need not even exist yet
    vault = bootstrap.open_vault(Settings(home=home, database_url=pg_schema_url))
    with vault.engine.connect() as conn:
        assert conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = 'app'")).first() is None
    vault.engine.dispose()


def test_grant_is_refused_on_sqlite_and_for_a_bad_role(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "vault"
    bootstrap.init_vault(Settings(home=home)).engine.dispose()
    code, _, err = cli(capsys, monkeypatch, "--home", str(home), "db", "grant", "app")
    assert code == InvalidInput.exit_code and "SQLite has no roles" in err
    code, _, err = cli(capsys, monkeypatch, "--home", str(home), "db", "grant", "Bad-Role")
    assert code == InvalidInput.exit_code and "role name" in err
