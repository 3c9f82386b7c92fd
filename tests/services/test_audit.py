"""Reading the audit log."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodes.bootstrap import Vault
from custodes.core.errors import InvalidInput, PermissionDenied
from custodes.services.audit import list_events, published_checkpoint
from custodes.services.events import list_audit
from custodes.storage.checkpoints import FileCheckpointStore
from tests.factories import add_user


def test_limit_keeps_the_last_events(sqlite_vault: Vault) -> None:
    with sqlite_vault.uow(readonly=True) as uow:
        every = list_events(uow.conn)
        assert list_events(uow.conn, limit=1) == every[-1:]


@pytest.mark.parametrize("limit", [0, -5])
def test_a_limit_below_one_is_bad_input(sqlite_vault: Vault, limit: int) -> None:
    # It used to return the whole log.
    with (
        sqlite_vault.uow(readonly=True) as uow,
        pytest.raises(InvalidInput, match=f"positive number of events, not {limit}"),
    ):
        list_events(uow.conn, limit=limit)


def test_list_audit_checks_the_permission_and_puts_a_refusal_on_record(
    sqlite_vault: Vault,
) -> None:
    every = list_audit(sqlite_vault, "admin")
    assert every and list_audit(sqlite_vault, "admin", limit=1) == every[-1:]
    officer = add_user(sqlite_vault, "officer")
    with pytest.raises(PermissionDenied):
        list_audit(sqlite_vault, officer)
    refused = list_audit(sqlite_vault, "admin")[-1]
    assert (refused.actor, refused.action) == (officer, "access-refused")


def test_published_checkpoint(sqlite_vault: Vault, tmp_path: Path) -> None:
    note = published_checkpoint(sqlite_vault.checkpoints)
    assert note.decode().startswith(sqlite_vault.origin + "\n")
    with pytest.raises(InvalidInput, match="no checkpoint at"):
        published_checkpoint(FileCheckpointStore(tmp_path / "nowhere"))
