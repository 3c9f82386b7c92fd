"""The archive-key repository: one row per evidence and key format, replaced, removed."""

from __future__ import annotations

from custodes.bootstrap import Vault
from custodes.core.records import StoredArchiveKeys, StoredFingerprint
from tests.factories.stored import stored_evidence


def test_keys_are_replaced_removed_and_cleared(vault: Vault) -> None:
    with vault.uow() as uow:
        a, b = stored_evidence(uow), stored_evidence(uow)
        uow.archive_keys.put(StoredArchiveKeys(a.id, 1, b"first", "2026-01-01"))
        uow.archive_keys.put(StoredArchiveKeys(a.id, 1, b"second", "2026-01-02"))
        uow.archive_keys.put(StoredArchiveKeys(b.id, 1, b"b", "2026-01-02"))
        uow.archive_keys.put(StoredArchiveKeys(b.id, 2, b"b2", "2026-01-02"))
        uow.commit()
    with vault.uow() as uow:
        rows = {r.evidence_id: r for r in uow.archive_keys.all(1)}
        assert rows[a.id].data == b"second" and set(rows) == {a.id, b.id}
        assert uow.archive_keys.ids(2) == {b.id}
        # What an index snapshot is checked against: each row's stamp, no data read.
        assert uow.archive_keys.stamps(1) == {a.id: "2026-01-02", b.id: "2026-01-02"}
        assert [r.data for r in uow.archive_keys.some([a.id, "nope"], 1)] == [b"second"]
        assert uow.archive_keys.remove(b.id) == 2  # retention: every format goes
        assert uow.archive_keys.remove(b.id) == 0
        assert uow.archive_keys.ids(1) == {a.id}
        # Fingerprints are read for the few evidence items asked for.
        uow.fingerprints.put(StoredFingerprint(a.id, 1, b"fp", "2026-01-01"))
        assert [f.evidence_id for f in uow.fingerprints.some([a.id, b.id], 1)] == [a.id]
        assert uow.archive_keys.clear() == 1
        uow.commit()
    with vault.uow(readonly=True) as uow:
        assert uow.archive_keys.all(1) == []
