from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from custodes.bootstrap import Vault
from custodes.core.errors import CustodyConflict, InvalidInput, PermissionDenied
from custodes.services import users
from custodes.services.audit import list_events
from tests.factories import add_user


def test_add_user_is_audited(vault: Vault) -> None:
    out = users.add_user(vault, "admin", "ofc.diaz", "officer")
    assert (out.username, out.role) == ("ofc.diaz", "officer")
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn)[-1]
    assert (last["action"], last["actor"], last["object_id"]) == ("user-add", "admin", "ofc.diaz")


def test_password_is_argon2id(vault: Vault) -> None:
    users.add_user(vault, "admin", "web.user", "records", password="correct horse battery")
    with vault.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT password_hash FROM users WHERE username='web.user'")
        ).scalar()
    assert stored.startswith("$argon2id$")
    assert PasswordHasher().verify(stored, "correct horse battery")


def test_a_password_that_is_not_utf8_is_refused(vault: Vault) -> None:
    with pytest.raises(InvalidInput, match="must be valid UTF-8"):
        users.add_user(vault, "admin", "web.user", "records", password="abcdefghijkl\udcff\udcfe")
    assert [u.username for u in users.list_users(vault, "admin")] == ["admin"]


def test_short_password_refused(vault: Vault) -> None:
    with pytest.raises(InvalidInput, match="12 characters"):
        users.add_user(vault, "admin", "web.user", "records", password="short")


@pytest.mark.parametrize("name", ["", "Bad Name", "../etc", "x" * 65, "-dash"])
def test_bad_usernames(vault: Vault, name: str) -> None:
    with pytest.raises(InvalidInput, match="invalid username"):
        users.add_user(vault, "admin", name, "officer")


def test_duplicate_and_unknown_role(vault: Vault) -> None:
    users.add_user(vault, "admin", "dup", "officer")
    with pytest.raises(CustodyConflict):
        users.add_user(vault, "admin", "dup", "officer")
    with pytest.raises(InvalidInput, match="unknown role"):
        users.add_user(vault, "admin", "other", "sheriff")


def test_only_admin_adds_users_and_refusals_are_recorded(vault: Vault) -> None:
    rec = add_user(vault, "records")
    with pytest.raises(PermissionDenied):
        users.add_user(vault, rec, "sneaky", "admin")
    with pytest.raises(PermissionDenied, match="no active vault user 'ghost'"):
        users.add_user(vault, "ghost", "sneaky", "admin")
    with vault.uow(readonly=True) as uow:
        refusals = [e for e in list_events(uow.conn) if e["action"] == "access-refused"]
    assert [(e["actor"], e["details"]["attempted"]) for e in refusals] == [
        (rec, "vault:user:add"),
        ("ghost", "identify"),
    ]
