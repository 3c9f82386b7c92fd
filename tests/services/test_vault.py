"""Creating a vault, on SQLite and on PostgreSQL."""

from __future__ import annotations

import stat

import pytest
from sqlalchemy import text

from custodes import bootstrap
from custodes.bootstrap import Vault
from custodes.config import Settings
from custodes.core.errors import CustodyConflict, NotFound
from custodes.services.audit import list_events


def test_init_creates_admin_key_and_signed_log(vault: Vault) -> None:
    home = vault.home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    key = home / bootstrap.KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (home / bootstrap.CHECKPOINT_FILE).read_text().startswith(vault.origin + "\n3\n")
    with vault.uow(readonly=True) as uow:
        events = list_events(uow.conn)
        role = uow.conn.execute(text("SELECT role FROM users WHERE username='admin'")).scalar()
    assert [e["action"] for e in events] == ["vault-init", "user-add", "policy-set"]
    assert role == "admin"


def test_init_twice_is_refused(vault: Vault) -> None:
    with pytest.raises(CustodyConflict, match="already exists"):
        bootstrap.init_vault(vault.settings)


def test_opening_a_missing_vault_says_how_to_create_one(tmp_path) -> None:
    with pytest.raises(NotFound, match="no vault at") as err:
        bootstrap.open_vault(Settings(home=tmp_path / "nowhere"))
    assert "custodes init" in err.value.diagnostics()


@pytest.mark.parametrize(
    "verb", ["UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"]
)
def test_audit_log_is_append_only_in_the_database(vault: Vault, verb: str) -> None:
    with vault.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text(verb))
    with vault.uow(readonly=True) as uow:
        assert len(list_events(uow.conn)) == 3


def test_checkpoints_are_append_only(vault: Vault) -> None:
    with vault.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("DELETE FROM checkpoints"))
