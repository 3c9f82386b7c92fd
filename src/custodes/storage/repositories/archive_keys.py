"""Archive-index keys (issue 20): derived from the fingerprints, one row per evidence."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from custodes.core.records import StoredArchiveKeys
from custodes.storage import tables as t


class ArchiveKeyRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def all(self, version: int) -> list[StoredArchiveKeys]:
        """Every row in key format ``version``."""
        c = t.archive_keys.c
        rows = self._conn.execute(
            select(t.archive_keys).where(c.version == version).order_by(c.evidence_id)
        )
        return [
            StoredArchiveKeys(r.evidence_id, int(r.version), bytes(r.data), r.created_at)
            for r in rows
        ]

    def stamps(self, version: int) -> dict[str, str]:
        """Each row's ``created_at`` in key format ``version``, by evidence (no data read)."""
        c = t.archive_keys.c
        rows = self._conn.execute(select(c.evidence_id, c.created_at).where(c.version == version))
        return {r.evidence_id: r.created_at for r in rows}

    def some(self, evidence_ids: list[str], version: int) -> list[StoredArchiveKeys]:
        """The rows of these evidence items in key format ``version`` (those that exist)."""
        c = t.archive_keys.c
        out: list[StoredArchiveKeys] = []
        for i in range(0, len(evidence_ids), 500):
            rows = self._conn.execute(
                select(t.archive_keys).where(
                    (c.version == version) & c.evidence_id.in_(evidence_ids[i : i + 500])
                )
            )
            out.extend(
                StoredArchiveKeys(r.evidence_id, int(r.version), bytes(r.data), r.created_at)
                for r in rows
            )
        return out

    def ids(self, version: int) -> set[str]:
        c = t.archive_keys.c
        return set(self._conn.execute(select(c.evidence_id).where(c.version == version)).scalars())

    def put(self, keys: StoredArchiveKeys) -> None:
        """Keep ``keys`` in place of any row of its evidence and version."""
        c = t.archive_keys.c
        done = self._conn.execute(
            update(t.archive_keys)
            .where((c.evidence_id == keys.evidence_id) & (c.version == keys.version))
            .values(data=keys.data, created_at=keys.created_at)
        )
        if not done.rowcount:
            self._conn.execute(
                insert(t.archive_keys).values(
                    evidence_id=keys.evidence_id,
                    version=keys.version,
                    data=keys.data,
                    created_at=keys.created_at,
                )
            )

    def remove(self, evidence_id: str) -> int:
        """Drop an evidence item's keys (retention); how many rows went."""
        done = self._conn.execute(
            delete(t.archive_keys).where(t.archive_keys.c.evidence_id == evidence_id)
        )
        return int(done.rowcount or 0)

    def clear(self) -> int:
        """Drop every row (before a rebuild); how many went."""
        return int(self._conn.execute(delete(t.archive_keys)).rowcount or 0)
