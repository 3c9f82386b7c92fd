"""What the request repositories' tests stand on: a case, a recording, a request, in one
unit of work that is rolled back (SQLite; PostgreSQL too when it is configured)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from custodes.bootstrap import Vault
from custodes.core.authz import CaseStatus
from custodes.core.records import Case, Request
from custodes.storage.uow import UnitOfWork
from tests.factories import unique
from tests.factories.stored import stored_evidence


@pytest.fixture
def uow(vault: Vault) -> Iterator[UnitOfWork]:
    with vault.uow() as opened:
        yield opened  # never committed: rolled back on leaving


@pytest.fixture
def case(uow: UnitOfWork) -> Case:
    return uow.cases.add(unique("CASE-"), "a case", CaseStatus.OPEN, "2026-01-02T03:04:05")


def add_evidence(uow: UnitOfWork, case: Case) -> str:
    """A recording on record (its blob is not needed here)."""
    return stored_evidence(uow, case).id


def add_request(uow: UnitOfWork, case: Case, **kwargs: object) -> Request:
    values: dict[str, object] = {
        "requester": "Denver Post",
        "kind": "press",
        "received_at": date(2026, 11, 20),
        "evidence": (),
        "ranges": (),
        "misconduct_complaint": False,
        "allegation_on": None,
        "incident_on": None,
        "critical_incident": False,
        "due": date(2026, 11, 23),
        "actor": "admin",
        "created_at": "2026-11-20T10:00:00",
        **kwargs,
    }
    return uow.requests.add(unique("RQ-"), case, **values)  # type: ignore[arg-type]
