"""Evidence and exports put on record through the repositories alone (no blobs)."""

from __future__ import annotations

import hashlib

from custodes.core.media import MediaInfo
from custodes.core.records import Evidence, Export
from custodes.storage.uow import UnitOfWork
from tests.factories import unique

MEDIA = MediaInfo("mov,mp4", "h264", 320, 180, 30.0, 2.0, 60, "aac", 1, 48000, None)


def add_evidence(
    uow: UnitOfWork, case_number: str, *, officer: str | None = None, sha256: str | None = None
) -> Evidence:
    return uow.evidence.add(
        unique("EV-T"),
        case=uow.cases.get(case_number),
        sha256=sha256 or hashlib.sha256(unique("blob").encode()).hexdigest(),
        size=1234,
        officer=uow.users.get(officer) if officer else None,
        device="X1",
        recorded_at="2026-03-15T04:04:05+00:00",
        ingested_at="2026-03-16T00:00:00+00:00",
        ingested_by=uow.users.get("admin"),
        original_name="clip.mp4",
        media=MEDIA,
    )


def export_of(ev: Evidence, *, start_s: float = 0.0, end_s: float = 2.0, at: str = "1") -> Export:
    return Export(
        id=unique("EX-T"),
        evidence_id=ev.id,
        recipient="Deputy DA",
        purpose="charging",
        actor="admin",
        created_at=f"2026-03-16T00:00:0{at}+00:00",
        start_s=start_s,
        end_s=end_s,
        width=320,
        height=180,
        visible_mark=True,
        key_version=1,
        output_sha256="b" * 64,
        output_size=999,
        lineage={"source": {"evidence_id": ev.id}, "operations": [{"op": "trim"}]},
        audit_seq=1,
    )
