"""Evidence: originals on record with their case and recording officer."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from custodes.core.errors import NotFound
from custodes.core.media import MediaInfo
from custodes.core.records import Case, Evidence, User
from custodes.storage import tables as t
from custodes.storage.repositories._base import media_info


def select_evidence(*columns: Any) -> Any:
    """``columns`` of evidence rows with their case number and recording officer's name."""
    officer = t.users.alias("officer")
    return (
        select(*columns, t.cases.c.number.label("case_number"), officer.c.username.label("officer"))
        .join(t.cases, t.cases.c.id == t.evidence.c.case_id)
        .outerjoin(officer, officer.c.id == t.evidence.c.officer_id)
    )


class EvidenceRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @staticmethod
    def record(row: Any) -> Evidence:
        return Evidence(
            id=row.id,
            case_id=int(row.case_id),
            case_number=row.case_number,
            sha256=row.sha256,
            size=int(row.size),
            officer=row.officer,
            device=row.device,
            recorded_at=row.recorded_at,
            ingested_at=row.ingested_at,
            original_name=row.original_name,
            media=media_info(row.media),
        )

    def find(self, evidence_id: str) -> Evidence | None:
        row = self._conn.execute(
            select_evidence(t.evidence).where(t.evidence.c.id == evidence_id)
        ).first()
        return None if row is None else self.record(row)

    def get(self, evidence_id: str) -> Evidence:
        ev = self.find(evidence_id)
        if ev is None:
            raise NotFound(f"no evidence '{evidence_id}'")
        return ev

    def with_hash(self, sha256: str) -> Evidence | None:
        row = self._conn.execute(
            select_evidence(t.evidence).where(t.evidence.c.sha256 == sha256)
        ).first()
        return None if row is None else self.record(row)

    def list(self, case: Case | None = None) -> list[Evidence]:
        query = select_evidence(t.evidence)
        if case is not None:
            query = query.where(t.evidence.c.case_id == case.id)
        rows = self._conn.execute(query.order_by(t.evidence.c.ingested_at, t.evidence.c.id))
        return [self.record(r) for r in rows]

    def add(
        self,
        evidence_id: str,
        *,
        case: Case,
        sha256: str,
        size: int,
        officer: User | None,
        device: str | None,
        recorded_at: str | None,
        ingested_at: str,
        ingested_by: User,
        original_name: str,
        media: MediaInfo,
    ) -> Evidence:
        """Put an original (already in the blob store) on record as evidence of ``case``."""
        self._conn.execute(
            insert(t.evidence).values(
                id=evidence_id,
                case_id=case.id,
                sha256=sha256,
                size=size,
                officer_id=officer.id if officer is not None else None,
                device=device,
                recorded_at=recorded_at,
                ingested_at=ingested_at,
                ingested_by=ingested_by.id,
                original_name=original_name,
                media=json.dumps(media.to_dict(), sort_keys=True),
            )
        )
        return self.get(evidence_id)
