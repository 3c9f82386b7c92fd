"""The fingerprints repository: a cache of derived data, one per evidence and format."""

from __future__ import annotations

from custodes.bootstrap import Vault
from custodes.core.records import StoredFingerprint
from tests.factories.stored import stored_evidence


def test_fingerprints_are_kept_once_per_evidence_and_version(vault: Vault) -> None:
    with vault.uow() as uow:
        a, b = stored_evidence(uow), stored_evidence(uow)
        first = StoredFingerprint(a.id, 3, b"\x00\x01fp", "2025-01-01")
        assert uow.fingerprints.put(first)
        # A concurrent trace made it already: the first one stays.
        assert not uow.fingerprints.put(StoredFingerprint(a.id, 3, b"other", "2025-01-02"))
        assert uow.fingerprints.put(StoredFingerprint(a.id, 4, b"newer format", "2025-01-02"))
        assert uow.fingerprints.put(StoredFingerprint(b.id, 3, b"b", "2025-01-02"))
        uow.commit()
    with vault.uow(readonly=True) as uow:
        v3 = {f.evidence_id: f for f in uow.fingerprints.all(3)}
        assert v3[a.id] == first
        assert set(v3) == {a.id, b.id}
        assert uow.fingerprints.indexed(4) == {a.id}
        assert uow.fingerprints.indexed(5) == set()
