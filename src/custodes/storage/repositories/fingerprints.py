"""Fingerprints: derived data about evidence (coarse motion), cached for tracing."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from custodes.core.records import StoredFingerprint
from custodes.storage import tables as t


class FingerprintRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def all(self, version: int) -> list[StoredFingerprint]:
        """Every fingerprint made in format ``version``."""
        rows = self._conn.execute(
            select(t.fingerprints)
            .where(t.fingerprints.c.version == version)
            .order_by(t.fingerprints.c.evidence_id)
        )
        return [
            StoredFingerprint(
                evidence_id=r.evidence_id,
                version=int(r.version),
                data=bytes(r.data),
                created_at=r.created_at,
            )
            for r in rows
        ]

    def indexed(self, version: int) -> set[str]:
        """The evidence with a fingerprint in format ``version``."""
        return set(
            self._conn.execute(
                select(t.fingerprints.c.evidence_id).where(t.fingerprints.c.version == version)
            ).scalars()
        )

    def put(self, fingerprint: StoredFingerprint) -> bool:
        """Keep ``fingerprint`` unless one of its evidence and version is kept already
        (a concurrent trace made it); whether it was added."""
        f = fingerprint
        exists = self._conn.execute(
            select(t.fingerprints.c.evidence_id).where(
                (t.fingerprints.c.evidence_id == f.evidence_id)
                & (t.fingerprints.c.version == f.version)
            )
        ).first()
        if exists is not None:
            return False
        self._conn.execute(
            insert(t.fingerprints).values(
                evidence_id=f.evidence_id, version=f.version, data=f.data, created_at=f.created_at
            )
        )
        return True
