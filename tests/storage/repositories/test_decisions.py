"""Decisions recorded on release requests: the one that stands is the last."""

from __future__ import annotations

import pytest

from custodes.core.errors import NotFound
from custodes.core.jsontext import JSONObject
from custodes.core.records import Case
from custodes.storage.uow import UnitOfWork
from tests.storage.repositories.request_world import add_request, case, uow

__all__ = ["case", "uow"]


def _decide(uow: UnitOfWork, request_id: str, decision_id: str, at: str, outcome: str) -> None:
    document: JSONObject = {
        "outcome": outcome,
        "review_at": "2027-01-01" if outcome == "hold" else None,
        "release": None if outcome == "hold" else {"evidence": "all", "ranges": "all"},
    }
    uow.decisions.add(
        decision_id,
        request_id,
        decided_at=at,
        decider="admin",
        outcome=outcome,
        proposed_outcome="hold",
        override_reason=None if outcome == "hold" else "court order",
        pack_name="colorado",
        pack_sha256="ab" * 32,
        facts={"case_status": "open", "evidence_flags": ["minor"]},
        document=document,
        audit_seq=7,
    )


def test_decisions_of_a_request(uow: UnitOfWork, case: Case) -> None:
    request = add_request(uow, case)
    assert uow.decisions.latest(request.id) is None
    _decide(uow, request.id, "DC-1", "2026-11-20T10:00:00.000001", "hold")
    _decide(uow, request.id, "DC-2", "2026-11-21T10:00:00.000001", "release")
    first, last = uow.decisions.of_request(request.id)
    assert (first.id, last.id) == ("DC-1", "DC-2")
    assert uow.decisions.latest(request.id) == last
    assert first.review_at == "2027-01-01" and last.review_at is None
    assert last.document["release"] == {"evidence": "all", "ranges": "all"}
    assert last.facts == {"case_status": "open", "evidence_flags": ["minor"]}
    assert (last.override_reason, last.proposed_outcome, last.audit_seq) == (
        "court order",
        "hold",
        7,
    )
    with pytest.raises(NotFound, match="no decision 'DC-3'"):
        uow.decisions.get("DC-3")
