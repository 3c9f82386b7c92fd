"""Release requests: stored and read back as records."""

from __future__ import annotations

from datetime import date

import pytest

from custodes.core.errors import NotFound
from custodes.core.records import Case
from custodes.storage.uow import UnitOfWork
from tests.storage.repositories.request_world import add_evidence, add_request, case, uow

__all__ = ["case", "uow"]


def test_a_request_reads_back_as_stored(uow: UnitOfWork, case: Case) -> None:
    ev = add_evidence(uow, case)
    stored = add_request(
        uow,
        case,
        evidence=(ev,),
        ranges=((0.5, 1.5),),
        misconduct_complaint=True,
        allegation_on=date(2026, 10, 1),
        critical_incident=True,
    )
    assert uow.requests.get(stored.id) == stored
    assert stored.case_number == case.number and stored.case_id == case.id
    assert stored.evidence == (ev,) and stored.ranges == ((0.5, 1.5),)
    assert stored.received_at == date(2026, 11, 20) and stored.due == date(2026, 11, 23)
    assert stored.allegation_on == date(2026, 10, 1) and stored.incident_on is None
    assert stored.misconduct_complaint and stored.critical_incident


def test_unknown_requests(uow: UnitOfWork) -> None:
    assert uow.requests.find("RQ-NOPE") is None
    with pytest.raises(NotFound, match="no request 'RQ-NOPE'"):
        uow.requests.get("RQ-NOPE")


def test_requests_are_listed_soonest_due_first(uow: UnitOfWork, case: Case) -> None:
    later = add_request(uow, case, due=date(2026, 12, 30))
    sooner = add_request(uow, case, due=date(2026, 12, 1))
    other_case = uow.cases.add("OTHER-" + case.number, "", case.status, "2026-01-01")
    elsewhere = add_request(uow, other_case, due=date(2026, 11, 1))
    assert [r.id for r in uow.requests.list(case)] == [sooner.id, later.id]
    assert [r.id for r in uow.requests.list()] == [elsewhere.id, sooner.id, later.id]
