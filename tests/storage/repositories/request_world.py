"""What the request repositories' tests stand on: a case, a recording, a request, in one
unit of work that is rolled back (SQLite; PostgreSQL too when it is configured)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import insert

from custodes.bootstrap import Vault
from custodes.core.authz import CaseStatus
from custodes.core.records import Case, Request
from custodes.storage import tables as t
from custodes.storage.uow import UnitOfWork
from tests.factories import unique

MEDIA = {
    "container": "mp4",
    "video_codec": "h264",
    "width": 320,
    "height": 180,
    "fps": 15.0,
    "duration_s": 2.0,
    "frame_count": 30,
    "audio_codec": None,
    "audio_channels": None,
    "audio_sample_rate": None,
    "creation_time": None,
}


@pytest.fixture
def uow(vault: Vault) -> Iterator[UnitOfWork]:
    with vault.uow() as opened:
        yield opened  # never committed: rolled back on leaving


@pytest.fixture
def case(uow: UnitOfWork) -> Case:
    return uow.cases.add(unique("CASE-"), "a case", CaseStatus.OPEN, "2026-01-02T03:04:05")


def add_evidence(uow: UnitOfWork, case: Case) -> str:
    """A recording on record (its blob is not needed here)."""
    evidence_id = unique("EV-")
    admin = uow.users.get("admin")
    uow.conn.execute(
        insert(t.evidence).values(
            id=evidence_id,
            case_id=case.id,
            sha256=hashlib.sha256(evidence_id.encode()).hexdigest(),
            size=1,
            ingested_at="2026-01-02T03:04:05",
            ingested_by=admin.id,
            original_name="clip.mp4",
            media=json.dumps(MEDIA),
        )
    )
    return evidence_id


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
