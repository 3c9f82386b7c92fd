"""Rows put straight into the database, for repository tests that need something to
refer to (evidence, an export) without running the use cases that make them."""

from __future__ import annotations

import json
import secrets

from custodes.core.authz import CaseStatus
from custodes.core.records import Case, Evidence
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


def stored_evidence(uow: UnitOfWork, case: Case | None = None) -> Evidence:
    """One recording in ``case`` (a new case by default), with no blob behind it."""
    if case is None:
        case = uow.cases.add(unique("CASE-"), "a case", CaseStatus.OPEN, "2025-01-01T00:00:00")
    evidence_id = unique("EV-T")
    uow.conn.execute(
        t.evidence.insert().values(
            id=evidence_id,
            case_id=case.id,
            sha256=secrets.token_hex(32),
            size=1000,
            ingested_at="2025-01-01T00:00:01",
            ingested_by=uow.users.get("admin").id,
            original_name="clip.mp4",
            media=json.dumps(MEDIA),
        )
    )
    return uow.evidence.get(evidence_id)


def stored_export(
    uow: UnitOfWork,
    evidence_id: str,
    start_s: float,
    end_s: float,
    *,
    created_at: str = "2025-01-02T00:00:00",
    mark: dict[str, object] | None = None,
) -> str:
    """An export of ``evidence_id`` covering ``start_s``-``end_s``, marked with ``mark``."""
    export_id = unique("EX-T")
    lineage = {
        "operations": [
            {"op": "trim", "start_s": start_s, "end_s": end_s},
            {"op": "forensic-watermark", "params": mark or {"strength": 2.0}},
        ]
    }
    uow.conn.execute(
        t.exports.insert().values(
            id=export_id,
            evidence_id=evidence_id,
            recipient="alice",
            purpose="review",
            actor="rec",
            created_at=created_at,
            start_s=start_s,
            end_s=end_s,
            width=320,
            height=180,
            visible_mark=True,
            key_version=1,
            output_sha256=secrets.token_hex(32),
            output_size=10,
            lineage=json.dumps(lineage),
            audit_seq=0,
        )
    )
    return export_id
