"""The exports repository: copies on record with their lineage."""

from __future__ import annotations

from dataclasses import replace

import pytest

from custodes.bootstrap import Vault
from custodes.core.errors import NotFound
from tests.factories import add_case
from tests.storage.repositories._records import add_evidence, export_of


def test_an_export_is_stored_and_read_back_with_its_lineage(vault: Vault) -> None:
    number = add_case(vault)
    with vault.uow() as uow:
        ev = add_evidence(uow, number)
        made = export_of(ev)
        assert uow.exports.add(made) == made
        uow.commit()
    with vault.uow(readonly=True) as uow:
        got = uow.exports.get(made.id)
        assert uow.exports.find("EX-NOPE") is None
        with pytest.raises(NotFound, match="no export 'EX-NOPE'"):
            uow.exports.get("EX-NOPE")
    assert got == made
    assert got.lineage == {"source": {"evidence_id": ev.id}, "operations": [{"op": "trim"}]}


def test_listing_filters_by_evidence_and_leaves_out_hidden_cases(vault: Vault) -> None:
    seen, hidden = add_case(vault), add_case(vault)
    with vault.uow() as uow:
        a, b = add_evidence(uow, seen), add_evidence(uow, hidden)
        first = uow.exports.add(export_of(a, at="1"))
        second = uow.exports.add(export_of(b, at="2"))
        third = uow.exports.add(export_of(a, at="3"))
        uow.commit()
    with vault.uow(readonly=True) as uow:
        assert [e.id for e in uow.exports.list()] == [first.id, second.id, third.id]
        assert [e.id for e in uow.exports.list(evidence_id=a.id)] == [first.id, third.id]
        assert [e.id for e in uow.exports.list(hidden_cases={hidden})] == [first.id, third.id]
        assert uow.exports.list(evidence_id=b.id, hidden_cases=[hidden]) == []


def test_overlapping_exports_and_signed_copies(vault: Vault) -> None:
    number = add_case(vault)
    with vault.uow() as uow:
        ev = add_evidence(uow, number)
        early = uow.exports.add(export_of(ev, start_s=0.0, end_s=1.0, at="1"))
        late = uow.exports.add(export_of(ev, start_s=1.5, end_s=2.0, at="2"))
        signed = export_of(ev, at="3")
        signed = uow.exports.add(
            replace(signed, lineage={"operations": [{"op": "c2pa-manifest", "alg": "es256"}]})
        )
        uow.commit()
    with vault.uow(readonly=True) as uow:
        assert [e.id for e in uow.exports.overlapping(ev.id, 0.5, 1.2)] == [early.id, signed.id]
        assert [e.id for e in uow.exports.overlapping(ev.id, 1.2, 1.4)] == [signed.id]
        assert late.id in {e.id for e in uow.exports.overlapping(ev.id, 1.9, 3.0)}
        assert uow.exports.count_with_content_credentials() == 1
