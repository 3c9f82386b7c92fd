"""Derivatives of evidence (stored redactions), read back with their lineage."""

from __future__ import annotations

import json

from sqlalchemy import insert

from custodes.core.records import Case
from custodes.storage import tables as t
from custodes.storage.uow import UnitOfWork
from tests.storage.repositories.request_world import add_evidence, case, uow

__all__ = ["case", "uow"]


def test_a_derivative_and_its_operations(uow: UnitOfWork, case: Case) -> None:
    ev = add_evidence(uow, case)
    lineage = {
        "source": {"evidence_id": ev},
        "operations": [{"op": "redact", "faces": True}, {"op": "audio", "mode": "mute"}],
    }
    uow.conn.execute(
        insert(t.derivatives).values(
            id="RD-1",
            evidence_id=ev,
            kind="redaction",
            created_at="2026-11-20",
            actor="admin",
            sha256="cd" * 32,
            sidecar_sha256="ef" * 32,
            frames_redacted=12,
            lineage=json.dumps(lineage),
            audit_seq=3,
        )
    )
    found = uow.derivatives.find("RD-1")
    assert found is not None
    assert (found.evidence_id, found.kind, found.frames_redacted) == (ev, "redaction", 12)
    assert [op["op"] for op in found.operations] == ["redact", "audio"]
    assert uow.derivatives.find("RD-2") is None
