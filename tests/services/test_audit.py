"""Reading the audit log."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodes.bootstrap import Vault
from custodes.core import merkle
from custodes.core.custody import Action
from custodes.core.errors import InvalidInput, NotFound, PermissionDenied
from custodes.core.jsontext import jsonable
from custodes.services.audit import (
    append,
    checkpoint_at,
    commit,
    entry_at,
    leaf_hashes,
    list_events,
    open_checkpoint,
    published_checkpoint,
    read_events,
)
from custodes.services.common import event
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


def test_events_read_typed_and_as_json_objects_alike(sqlite_vault: Vault) -> None:
    with sqlite_vault.uow(readonly=True) as uow:
        views = read_events(uow)
        from_uow = list_events(uow)
        from_conn = list_events(uow.conn)
    assert from_uow == from_conn == [jsonable(v) for v in views]
    assert list(from_conn[0]) == [
        "seq",
        "at",
        "actor",
        "action",
        "case",
        "evidence",
        "object_type",
        "object_id",
        "reason",
        "client",
        "details",
        "prev",
    ]
    init, admin, pack = views
    assert (init.seq, init.action, init.details) == (
        0,
        "vault-init",
        {"origin": sqlite_vault.origin, "binds": ["fingerprints"]},
    )
    assert (admin.object_type, admin.object_id) == ("user", "admin")
    assert (pack.action, pack.object_type) == ("policy-set", "policy-pack")
    assert init.prev == "0" * 64
    assert list_audit(sqlite_vault, "admin")[:3] == views


def test_appended_events_chain_and_are_signed_on_commit(sqlite_vault: Vault) -> None:
    vault = sqlite_vault
    with vault.uow() as uow:
        seqs = append(uow, [event(vault, "admin", Action.VIEW, reason=f"r{i}") for i in range(3)])
        assert seqs == [3, 4, 5]  # after vault-init, user-add and policy-set
        commit(uow, vault)
    with vault.uow(readonly=True) as uow:
        views = read_events(uow)
        assert leaf_hashes(uow, 6)[4] == merkle.leaf_hash(entry_at(uow, 4))
        assert views[5].prev == leaf_hashes(uow, 6)[4].hex()
        with pytest.raises(NotFound, match="fewer than 7"):
            leaf_hashes(uow, 7)
        with pytest.raises(NotFound, match="no audit event with seq 9"):
            entry_at(uow, 9)
        with pytest.raises(NotFound, match="no signed checkpoint of size 5"):
            checkpoint_at(uow, 5)
        note = checkpoint_at(uow, 6)
    assert [v.reason for v in views[3:]] == ["r0", "r1", "r2"]
    assert open_checkpoint(vault, note).size == 6
    assert published_checkpoint(vault.checkpoints) == note
