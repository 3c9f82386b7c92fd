"""Exports on record: who received which copy of which evidence, and its lineage."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from custodes.core.errors import NotFound
from custodes.core.jsontext import JSONObject
from custodes.core.records import Export
from custodes.storage import tables as t


def _lineage(text: str) -> JSONObject:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("an export's stored lineage is not a JSON object")
    return value


class ExportRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @staticmethod
    def _export(row: Any) -> Export:
        return Export(
            id=row.id,
            evidence_id=row.evidence_id,
            recipient=row.recipient,
            purpose=row.purpose,
            actor=row.actor,
            created_at=row.created_at,
            start_s=float(row.start_s),
            end_s=float(row.end_s),
            width=int(row.width),
            height=int(row.height),
            visible_mark=bool(row.visible_mark),
            key_version=int(row.key_version),
            output_sha256=row.output_sha256,
            output_size=int(row.output_size),
            lineage=_lineage(row.lineage),
            audit_seq=int(row.audit_seq),
        )

    def add(self, export: Export) -> Export:
        self._conn.execute(
            insert(t.exports).values(
                id=export.id,
                evidence_id=export.evidence_id,
                recipient=export.recipient,
                purpose=export.purpose,
                actor=export.actor,
                created_at=export.created_at,
                start_s=export.start_s,
                end_s=export.end_s,
                width=export.width,
                height=export.height,
                visible_mark=export.visible_mark,
                key_version=export.key_version,
                output_sha256=export.output_sha256,
                output_size=export.output_size,
                lineage=json.dumps(export.lineage, sort_keys=True),
                audit_seq=export.audit_seq,
            )
        )
        return self.get(export.id)

    def find(self, export_id: str) -> Export | None:
        row = self._conn.execute(select(t.exports).where(t.exports.c.id == export_id)).first()
        return None if row is None else self._export(row)

    def get(self, export_id: str) -> Export:
        export = self.find(export_id)
        if export is None:
            raise NotFound(f"no export '{export_id}'")
        return export

    def overlapping(self, evidence_id: str, start_s: float, end_s: float) -> list[Export]:
        """Exports of ``evidence_id`` whose range overlaps ``start_s``..``end_s`` (seconds
        into the recording), in the order they were made."""
        query = (
            select(t.exports)
            .where(
                (t.exports.c.evidence_id == evidence_id)
                & (t.exports.c.start_s < end_s)
                & (t.exports.c.end_s > start_s)
            )
            .order_by(t.exports.c.created_at)
        )
        return [self._export(r) for r in self._conn.execute(query).all()]

    def count_with_content_credentials(self) -> int:
        """How many copies carry a signed C2PA manifest."""
        query = (
            select(func.count())
            .select_from(t.exports)
            .where(t.exports.c.lineage.contains('"c2pa-manifest"'))
        )
        return int(self._conn.execute(query).scalar_one())

    def list(
        self, *, evidence_id: str | None = None, hidden_cases: Collection[str] = ()
    ) -> list[Export]:
        """Exports in the order they were made: of ``evidence_id`` only (when given),
        leaving out those of evidence in ``hidden_cases`` (case numbers)."""
        query = (
            select(t.exports)
            .join(t.evidence, t.evidence.c.id == t.exports.c.evidence_id)
            .join(t.cases, t.cases.c.id == t.evidence.c.case_id)
            .order_by(t.exports.c.created_at)
        )
        if evidence_id is not None:
            query = query.where(t.exports.c.evidence_id == evidence_id)
        if hidden_cases:
            query = query.where(t.cases.c.number.not_in(sorted(hidden_cases)))
        return [self._export(r) for r in self._conn.execute(query).all()]
