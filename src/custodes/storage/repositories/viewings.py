"""Viewings on record (marked playback, issue 18), and what of each was sent lately."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from custodes.core.errors import NotFound
from custodes.core.records import SentRange, TracedCopy, Viewing
from custodes.storage import tables as t
from custodes.storage.repositories.derivatives import stored_document


class ViewingRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @staticmethod
    def _viewing(row: Any) -> Viewing:
        return Viewing(
            id=row.id,
            evidence_id=row.evidence_id,
            viewer=row.viewer,
            purpose=row.purpose,
            created_at=row.created_at,
            expires_at=row.expires_at,
            start_s=float(row.start_s),
            end_s=float(row.end_s),
            segment_s=float(row.segment_s),
            width=int(row.width),
            height=int(row.height),
            key_version=int(row.key_version),
            mark=stored_document(row.mark),
            visible_text=row.visible_text,
            audit_seq=int(row.audit_seq),
        )

    def add(self, v: Viewing) -> Viewing:
        self._conn.execute(
            insert(t.viewings).values(
                id=v.id,
                evidence_id=v.evidence_id,
                viewer=v.viewer,
                purpose=v.purpose,
                created_at=v.created_at,
                expires_at=v.expires_at,
                start_s=v.start_s,
                end_s=v.end_s,
                segment_s=v.segment_s,
                width=v.width,
                height=v.height,
                key_version=v.key_version,
                mark=json.dumps(v.mark, sort_keys=True),
                visible_text=v.visible_text,
                audit_seq=v.audit_seq,
            )
        )
        return v

    def find(self, viewing_id: str) -> Viewing | None:
        row = self._conn.execute(
            select(t.viewings).where(t.viewings.c.id == viewing_id)
        ).one_or_none()
        return None if row is None else self._viewing(row)

    def get(self, viewing_id: str) -> Viewing:
        found = self.find(viewing_id)
        if found is None:
            raise NotFound(f"no viewing '{viewing_id}'")
        return found

    def copies_overlapping(
        self, evidence_id: str, start_s: float, end_s: float
    ) -> list[TracedCopy]:
        """The viewings of ``evidence_id`` that could show some of ``start_s``-``end_s``,
        as copies a trace weighs (the viewer is the recipient), oldest first."""
        v = t.viewings.c
        rows = self._conn.execute(
            select(t.viewings)
            .where((v.evidence_id == evidence_id) & (v.start_s < end_s) & (v.end_s > start_s))
            .order_by(v.audit_seq)
        )
        return [
            TracedCopy(
                id=r.id,
                evidence_id=r.evidence_id,
                recipient=r.viewer,
                actor=r.viewer,
                created_at=r.created_at,
                purpose=r.purpose or "playback",
                start_s=float(r.start_s),
                end_s=float(r.end_s),
                key_version=int(r.key_version),
                output_sha256="",
                mark=stored_document(r.mark),
                kind="viewing",
            )
            for r in rows
        ]

    def sent(self, viewing_id: str) -> SentRange | None:
        row = self._conn.execute(
            select(
                t.viewings.c.sent_from_s, t.viewings.c.sent_to_s, t.viewings.c.recorded_to_s
            ).where(t.viewings.c.id == viewing_id)
        ).one_or_none()
        if row is None or row.sent_from_s is None:
            return None
        return SentRange(float(row.sent_from_s), float(row.sent_to_s), float(row.recorded_to_s))

    def set_sent(self, viewing_id: str, sent: SentRange) -> None:
        self._conn.execute(
            update(t.viewings)
            .where(t.viewings.c.id == viewing_id)
            .values(sent_from_s=sent.from_s, sent_to_s=sent.to_s, recorded_to_s=sent.recorded_to_s)
        )

    def list(
        self, *, evidence_id: str | None = None, hidden_cases: Collection[str] = ()
    ) -> list[Viewing]:
        """Viewings in the order they were started: of ``evidence_id`` only (when given),
        leaving out those of evidence in ``hidden_cases`` (case numbers)."""
        query = (
            select(t.viewings)
            .join(t.evidence, t.evidence.c.id == t.viewings.c.evidence_id)
            .join(t.cases, t.cases.c.id == t.evidence.c.case_id)
            .order_by(t.viewings.c.audit_seq)
        )
        if evidence_id is not None:
            query = query.where(t.viewings.c.evidence_id == evidence_id)
        if hidden_cases:
            query = query.where(t.cases.c.number.not_in(sorted(hidden_cases)))
        return [self._viewing(r) for r in self._conn.execute(query).all()]
