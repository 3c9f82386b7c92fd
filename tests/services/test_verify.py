"""`custodes verify` catches each kind of tampering, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update

from custodes import bootstrap
from custodes.bootstrap import Vault
from custodes.core.custody import Action
from custodes.core.jsontext import jsonable
from custodes.core.ports import RecordingProgress
from custodes.services import audit, evidence, verify
from custodes.services.common import event
from custodes.storage import tables as t
from custodes.storage.keys import Ed25519Signer
from tests.factories import add_case, add_user
from tests.factories.blobs import (
    flip_byte,
    on_both_blob_stores,
    read_blob,
    remove_blob,
    replace_blob,
)


def _unlock(vault: Vault) -> Callable[[], None]:
    """Remove the append-only guard, as an attacker with database access would."""
    with vault.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            for tbl in ("audit_events", "checkpoints"):
                for verb in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {tbl}_no_{verb}"))
        else:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE checkpoints DISABLE TRIGGER USER"))
    return lambda: None


def _with_events(vault: Vault, n: int = 12) -> None:
    with vault.uow() as uow:
        audit.append(uow, [event(vault, "admin", Action.VIEW, reason=f"r{i}") for i in range(n)])
        audit.commit(uow, vault)


def _kinds(vault: Vault, blobs: bool = True) -> list[str]:
    return verify.verify_vault(vault, "admin", blobs=blobs).kinds


def _entry(vault: Vault, seq: int) -> tuple[bytes, bytes]:
    with vault.engine.connect() as conn:
        row = conn.execute(
            select(t.audit_events.c.entry, t.audit_events.c.leaf_hash).where(
                t.audit_events.c.seq == seq
            )
        ).one()
    return bytes(row.entry), bytes(row.leaf_hash)


def _set_entry(vault: Vault, seq: int, entry: bytes, leaf: bytes | None = None) -> None:
    values: dict[str, bytes] = {"entry": entry}
    if leaf is not None:
        values["leaf_hash"] = leaf
    with vault.engine.begin() as conn:
        conn.execute(update(t.audit_events).where(t.audit_events.c.seq == seq).values(**values))


@on_both_blob_stores
def test_clean_vault_verifies_and_verification_is_audited(vault: Vault) -> None:
    _with_events(vault)
    progress = RecordingProgress()
    out = verify.verify_vault(vault.acting_for(vault.client, progress=progress), "admin")
    assert out.ok and out.problems == [] and out.events == 15
    assert out.checkpoints_checked >= 2
    log, blobs = progress.tasks
    assert (log.label, log.unit, log.total, log.done) == ("audit log", "item", 15, 15)
    assert (blobs.label, blobs.unit, blobs.total, blobs.done) == ("blobs", "byte", 0, 0)
    with vault.uow(readonly=True) as uow:
        last = audit.list_events(uow.conn)[-1]
    assert last["action"] == "verification" and last["details"]["ok"] is True
    assert verify.verify_vault(vault, "admin").ok  # the verification event itself is fine


def test_edited_event(vault: Vault) -> None:
    _with_events(vault)
    _unlock(vault)
    entry, _ = _entry(vault, 6)  # r3: after the 3 events of init
    _set_entry(vault, 6, entry.replace(b'"r3"', b'"r9"'))
    assert "event-edited" in _kinds(vault)


def test_edited_event_with_rehashed_leaf(vault: Vault) -> None:
    from custodes.core import merkle

    _with_events(vault)
    _unlock(vault)
    entry, _ = _entry(vault, 6)
    forged = entry.replace(b'"r3"', b'"r9"')
    _set_entry(vault, 6, forged, merkle.leaf_hash(forged))
    kinds = _kinds(vault)
    assert "chain-broken" in kinds and "checkpoint-mismatch" in kinds


def test_missing_event(vault: Vault) -> None:
    _with_events(vault)
    _unlock(vault)
    with vault.engine.begin() as conn:
        conn.execute(delete(t.audit_events).where(t.audit_events.c.seq == 6))
    assert "event-missing" in _kinds(vault)


def test_reordered_events(vault: Vault) -> None:
    _with_events(vault)
    _unlock(vault)
    a, la = _entry(vault, 4)
    b, lb = _entry(vault, 5)
    _set_entry(vault, 4, b, lb)
    _set_entry(vault, 5, a, la)
    assert "event-reordered" in _kinds(vault)


def test_edited_time_of_an_event(vault: Vault) -> None:
    # The entry, its hash and the chain are intact; only the column beside it lies.
    _with_events(vault)
    _unlock(vault)
    with vault.engine.begin() as conn:
        conn.execute(
            update(t.audit_events)
            .where(t.audit_events.c.seq == 7)
            .values(at="2020-01-01T00:00:00.000000+00:00")
        )
    out = verify.verify_vault(vault, "admin", blobs=False)
    assert out.kinds == ["index-mismatch"]
    [problem] = out.problems
    assert problem == {
        "kind": "index-mismatch",
        "detail": "event 7: column at disagrees with the entry",
        "seq": 7,
    }


def test_edited_running_state(vault: Vault) -> None:
    # The events and checkpoints are intact; the state the next event chains to is not.
    _with_events(vault)
    with vault.engine.begin() as conn:
        conn.execute(update(t.log_state).values(last_leaf_hash=bytes(32)))
    assert _kinds(vault, blobs=False) == ["log-state-mismatch"]


def test_trimmed_log(vault: Vault) -> None:
    _with_events(vault)
    _unlock(vault)
    with vault.engine.begin() as conn:
        conn.execute(delete(t.audit_events).where(t.audit_events.c.seq >= 10))
        conn.execute(delete(t.checkpoints).where(t.checkpoints.c.size >= 10))
    kinds = _kinds(vault)
    assert "log-truncated" in kinds  # the published checkpoint file still covers 15


def test_forged_checkpoint_file(vault: Vault, tmp_path: Path) -> None:
    _with_events(vault)
    other = Ed25519Signer.load_or_create(tmp_path / "other.pem", vault.origin)
    from custodes.core.checkpoint import Checkpoint, sign_note

    forged = sign_note(Checkpoint(vault.origin, 14, bytes(32)).body(), other)
    path = vault.home / bootstrap.CHECKPOINT_FILE
    os.chmod(path, 0o600)
    path.write_bytes(forged)
    assert "checkpoint-signature" in _kinds(vault, blobs=False)


def _ingest_two(
    vault: Vault, clips: dict[str, Path]
) -> tuple[evidence.Ingested, evidence.Ingested]:
    rec = add_user(vault, "records")
    number = add_case(vault)
    a = evidence.ingest(vault, rec, clips["a"], number)
    b = evidence.ingest(vault, rec, clips["b"], number)
    return a, b


@on_both_blob_stores
def test_blob_changed(vault: Vault, clips: dict[str, Path]) -> None:
    a, _ = _ingest_two(vault, clips)
    flip_byte(vault, a.sha256, 1000)
    assert _kinds(vault) == ["blob-changed"]


@on_both_blob_stores
def test_blob_missing(vault: Vault, clips: dict[str, Path]) -> None:
    a, _ = _ingest_two(vault, clips)
    remove_blob(vault, a.sha256)
    assert _kinds(vault) == ["blob-missing"]


@on_both_blob_stores
def test_blob_swapped(vault: Vault, clips: dict[str, Path]) -> None:
    a, b = _ingest_two(vault, clips)
    replace_blob(vault, a.sha256, read_blob(vault, b.sha256))
    assert _kinds(vault) == ["blob-swapped"]


def test_failed_verification_signs_nothing(vault: Vault) -> None:
    _with_events(vault)
    _unlock(vault)
    entry, _ = _entry(vault, 4)
    _set_entry(vault, 4, entry.replace(b'"r1"', b'"r7"'))
    with vault.engine.connect() as conn:
        before = conn.execute(text("SELECT max(size) FROM checkpoints")).scalar()
    out = verify.verify_vault(vault, "admin")
    assert not out.ok
    with vault.engine.connect() as conn:
        after = conn.execute(text("SELECT max(size) FROM checkpoints")).scalar()
    assert after == before


def _report(problems: list[dict]) -> verify.VerifyReport:
    return verify.VerifyReport(
        ok=not problems, problems=problems, events=3, checkpoints_checked=1, blobs=0
    )


def test_raise_for_problems_names_the_kinds_found() -> None:
    verify.raise_for_problems(_report([]))
    problems = [
        {"kind": "event-edited", "detail": "seq 3"},
        {"kind": "blob-changed", "detail": "EV-1"},
        {"kind": "event-edited", "detail": "seq 4"},
    ]
    with pytest.raises(verify.VerificationFailed) as info:
        verify.raise_for_problems(_report(problems))
    assert str(info.value) == "verify found 3 problem(s): blob-changed, event-edited"
    assert info.value.exit_code == 7 and info.value.problems == problems


def test_verify_needs_the_right_role(vault: Vault) -> None:
    from custodes.core.errors import PermissionDenied

    officer = add_user(vault, "officer")
    with pytest.raises(PermissionDenied):
        verify.verify_vault(vault, officer)


def test_the_report_serialises_as_the_cli_prints_it() -> None:
    report = _report([{"kind": "event-edited", "detail": "seq 3", "seq": 3}])
    doc = jsonable(report)
    assert (doc["ok"], doc["events"], doc["blobs"]) == (False, 3, 0)
    assert doc["problems"] == report.problems and "kinds" not in doc
