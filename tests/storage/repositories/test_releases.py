"""Releases: the manifest of each, as recorded."""

from __future__ import annotations

import pytest

from custodes.core.errors import NotFound
from custodes.core.records import Case
from custodes.storage.uow import UnitOfWork
from tests.storage.repositories.request_world import add_request, case, uow
from tests.storage.repositories.test_decisions import _decide

__all__ = ["case", "uow"]


def test_a_release_reads_back_as_recorded(uow: UnitOfWork, case: Case) -> None:
    request = add_request(uow, case)
    _decide(uow, request.id, "DC-1", "2026-11-20T10:00:00", "release")
    manifest = {"format": "custodes-release/v1", "files": [{"export_id": "EX-1"}]}
    stored = uow.releases.add(
        "RL-1",
        request.id,
        "DC-1",
        created_at="2026-11-21",
        actor="admin",
        manifest=manifest,
        audit_seq=9,
    )
    assert stored.manifest == manifest and stored.audit_seq == 9
    assert uow.releases.of_request(request.id) == [stored]
    with pytest.raises(NotFound, match="no release 'RL-2'"):
        uow.releases.get("RL-2")
