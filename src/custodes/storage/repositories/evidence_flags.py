"""What recordings show (a minor, a victim, a home's interior...): read by the policy pack."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from custodes.storage import tables as t


class EvidenceFlagRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def of(self, evidence_ids: Iterable[str]) -> frozenset[str]:
        """The flags of any of the recordings ``evidence_ids``, together."""
        ids = list(evidence_ids)
        if not ids:
            return frozenset()
        rows = self._conn.execute(
            select(t.evidence_flags.c.flag).where(t.evidence_flags.c.evidence_id.in_(ids))
        ).scalars()
        return frozenset(rows)

    def by_evidence(self, evidence_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        """The flags of each of the recordings ``evidence_ids`` (none: an empty set)."""
        ids = list(evidence_ids)
        found: dict[str, set[str]] = {i: set() for i in ids}
        for i in range(0, len(ids), 500):
            rows = self._conn.execute(
                select(t.evidence_flags).where(t.evidence_flags.c.evidence_id.in_(ids[i : i + 500]))
            )
            for r in rows:
                found[r.evidence_id].add(r.flag)
        return {k: frozenset(v) for k, v in found.items()}

    def add(self, evidence_id: str, flags: Iterable[str]) -> None:
        for flag in sorted(set(flags)):
            self._conn.execute(insert(t.evidence_flags).values(evidence_id=evidence_id, flag=flag))

    def remove(self, evidence_id: str, flags: Iterable[str]) -> None:
        for flag in sorted(set(flags)):
            self._conn.execute(
                delete(t.evidence_flags).where(
                    (t.evidence_flags.c.evidence_id == evidence_id)
                    & (t.evidence_flags.c.flag == flag)
                )
            )
