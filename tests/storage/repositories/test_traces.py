"""The traces repository: traces on record, and the exported copies a trace weighs."""

from __future__ import annotations

import pytest

from custodes.bootstrap import Vault
from custodes.core.errors import NotFound
from custodes.core.records import Trace
from tests.factories.stored import stored_evidence, stored_export


def test_a_trace_reads_back_as_written(vault: Vault) -> None:
    with vault.uow() as uow:
        ev = stored_evidence(uow)
        made = uow.traces.add(
            Trace(
                id="TR-1",
                actor="ia",
                created_at="2025-01-03",
                leak_sha256="d" * 64,
                leak_name="news.mp4",
                verdict="attributed",
                evidence_id=ev.id,
                result={"verdict": "attributed", "attributed": ["EX-1"], "source": None},
                audit_seq=9,
            )
        )
        uow.commit()
    with vault.uow(readonly=True) as uow:
        assert uow.traces.get("TR-1") == made
        with pytest.raises(NotFound):
            uow.traces.get("TR-nope")


def test_copies_overlapping_the_located_seconds(vault: Vault) -> None:
    with vault.uow() as uow:
        ev, other = stored_evidence(uow), stored_evidence(uow)
        late = stored_export(uow, ev.id, 5.0, 9.0, created_at="2025-01-05", mark={"k": 2})
        early = stored_export(uow, ev.id, 0.0, 4.0, created_at="2025-01-04", mark={"k": 1})
        stored_export(uow, ev.id, 10.0, 12.0)  # after the seconds traced
        stored_export(uow, other.id, 0.0, 12.0)  # another recording
        found = uow.traces.copies_overlapping(ev.id, 3.0, 6.0)
        assert [c.id for c in found] == [early, late]
        assert [c.mark for c in found] == [{"k": 1}, {"k": 2}]
        assert (found[0].start_s, found[0].end_s, found[0].key_version) == (0.0, 4.0, 1)
        # Touching is not overlapping.
        assert uow.traces.copies_overlapping(ev.id, 4.0, 5.0) == []
