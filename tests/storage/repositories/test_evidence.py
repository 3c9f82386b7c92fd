"""The evidence repository: evidence put on record and found again."""

from __future__ import annotations

from custodes.bootstrap import Vault
from tests.factories import add_case, add_user
from tests.storage.repositories._records import MEDIA, add_evidence


def test_added_evidence_is_found_by_id_hash_and_case(vault: Vault) -> None:
    officer = add_user(vault, "officer")
    number, other = add_case(vault), add_case(vault)
    with vault.uow() as uow:
        ev = add_evidence(uow, number, officer=officer, sha256="c" * 64)
        elsewhere = add_evidence(uow, other)
        uow.commit()
    with vault.uow(readonly=True) as uow:
        assert uow.evidence.get(ev.id) == ev
        assert uow.evidence.with_hash("c" * 64) == ev
        assert uow.evidence.with_hash("d" * 64) is None
        assert [e.id for e in uow.evidence.list(uow.cases.get(number))] == [ev.id]
        assert {e.id for e in uow.evidence.list()} == {ev.id, elsewhere.id}
    assert (ev.case_number, ev.officer, ev.media) == (number, officer, MEDIA)
    assert elsewhere.officer is None
