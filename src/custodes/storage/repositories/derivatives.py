"""Derivatives of evidence kept in the vault (redactions reviewed on their contact sheet)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from custodes.core.records import Derivative
from custodes.storage import tables as t
from custodes.storage.repositories._json import json_object


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
            lineage=json_object(row.lineage),
            audit_seq=int(row.audit_seq),
        )

    def find(self, derivative_id: str) -> Derivative | None:
        row = self._conn.execute(
            select(t.derivatives).where(t.derivatives.c.id == derivative_id)
        ).first()
        return None if row is None else self._derivative(row)
