"""What recordings show, as flags: added, removed, read together."""

from __future__ import annotations

from custodes.core.records import Case
from custodes.storage.uow import UnitOfWork
from tests.storage.repositories.request_world import add_evidence, case, uow

__all__ = ["case", "uow"]


def test_flags_of_recordings(uow: UnitOfWork, case: Case) -> None:
    a, b = add_evidence(uow, case), add_evidence(uow, case)
    flags = uow.evidence_flags
    assert flags.of([]) == frozenset() and flags.of([a]) == frozenset()
    flags.add(a, ["minor", "victim"])
    flags.add(b, ["informant"])
    assert flags.of([a]) == {"minor", "victim"}
    assert flags.of([a, b]) == {"minor", "victim", "informant"}
    flags.remove(a, ["victim", "plate"])  # a flag it does not carry is no error
    assert flags.of([a]) == {"minor"}


def test_flags_by_recording(uow: UnitOfWork, case: Case) -> None:
    a, b, c = add_evidence(uow, case), add_evidence(uow, case), add_evidence(uow, case)
    uow.evidence_flags.add(a, ["minor", "victim"])
    uow.evidence_flags.add(b, ["informant"])
    assert uow.evidence_flags.by_evidence([a, b, c]) == {
        a: frozenset({"minor", "victim"}),
        b: frozenset({"informant"}),
        c: frozenset(),
    }
    assert uow.evidence_flags.by_evidence([]) == {}
