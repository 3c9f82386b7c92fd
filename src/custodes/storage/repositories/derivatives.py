"""Derivatives: the redacted copies the vault keeps, with their lineage."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from custodes.core.errors import NotFound
from custodes.core.jsontext import JSONObject
from custodes.core.records import Derivative
from custodes.storage import tables as t


def stored_document(text: str) -> JSONObject:
    """A JSON document the vault wrote itself (a lineage, a trace's findings)."""
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError(f"a stored document is a JSON object, not {type(doc).__name__}")
    return doc


class DerivativeRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @staticmethod
    def _derivative(row: Any) -> Derivative:
        return Derivative(
            id=row.id,
            evidence_id=row.evidence_id,
            kind=row.kind,
            created_at=row.created_at,
            actor=row.actor,
            sha256=row.sha256,
            sidecar_sha256=row.sidecar_sha256,
            frames_redacted=int(row.frames_redacted),
            lineage=stored_document(row.lineage),
            audit_seq=int(row.audit_seq),
        )

    def add(self, derivative: Derivative) -> Derivative:
        d = derivative
        self._conn.execute(
            insert(t.derivatives).values(
                id=d.id,
                evidence_id=d.evidence_id,
                kind=d.kind,
                created_at=d.created_at,
                actor=d.actor,
                sha256=d.sha256,
                sidecar_sha256=d.sidecar_sha256,
                frames_redacted=d.frames_redacted,
                lineage=json.dumps(d.lineage, sort_keys=True),
                audit_seq=d.audit_seq,
            )
        )
        return d

    def find(self, derivative_id: str) -> Derivative | None:
        row = self._conn.execute(
            select(t.derivatives).where(t.derivatives.c.id == derivative_id)
        ).one_or_none()
        return None if row is None else self._derivative(row)

    def get(self, derivative_id: str) -> Derivative:
        found = self.find(derivative_id)
        if found is None:
            raise NotFound(f"no derivative '{derivative_id}'")
        return found

    def of_evidence(self, evidence_ids: Sequence[str]) -> list[Derivative]:
        """The derivatives of the given evidence, oldest first."""
        if not evidence_ids:
            return []
        rows = self._conn.execute(
            select(t.derivatives)
            .where(t.derivatives.c.evidence_id.in_(list(evidence_ids)))
            .order_by(t.derivatives.c.created_at, t.derivatives.c.id)
        )
        return [self._derivative(r) for r in rows]
