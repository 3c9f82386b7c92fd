"""Fingerprints: derived data about evidence (coarse motion), cached for tracing."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from custodes.core.ledger import FingerprintState, fingerprint_key, fingerprint_state
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

    def some(self, evidence_ids: list[str], version: int) -> list[StoredFingerprint]:
        """The fingerprints of those evidence items made in format ``version``."""
        c = t.fingerprints.c
        out: list[StoredFingerprint] = []
        for i in range(0, len(evidence_ids), 500):
            rows = self._conn.execute(
                select(t.fingerprints).where(
                    (c.version == version) & c.evidence_id.in_(evidence_ids[i : i + 500])
                )
            )
            out += [
                StoredFingerprint(r.evidence_id, int(r.version), bytes(r.data), r.created_at)
                for r in rows
            ]
        return out

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

    def replace(self, fingerprint: StoredFingerprint) -> None:
        """Keep ``fingerprint`` in place of the row of its evidence and version (one that
        its event does not vouch for, recomputed), or add it."""
        f = fingerprint
        c = t.fingerprints.c
        done = self._conn.execute(
            update(t.fingerprints)
            .where((c.evidence_id == f.evidence_id) & (c.version == f.version))
            .values(data=f.data, created_at=f.created_at)
        )
        if not done.rowcount:
            self.put(f)

    def states(self) -> dict[str, FingerprintState]:
        """Every row as the fact its ``fingerprint`` event vouches for (the SHA-256 of its
        bytes), by key (``core.ledger.fingerprint_key``)."""
        c = t.fingerprints.c
        rows = self._conn.execute(select(c.evidence_id, c.version, c.data))
        return {
            fingerprint_key(r.evidence_id, int(r.version)): fingerprint_state(
                r.evidence_id, int(r.version), bytes(r.data)
            )
            for r in rows
        }
