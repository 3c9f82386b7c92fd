"""Alerts, each addressed to one audience and tied to the audit event it is about."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from custodes.core.records import Alert
from custodes.storage import tables as t


class AlertRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @staticmethod
    def _alert(row: Any) -> Alert:
        return Alert(
            id=int(row.id),
            at=row.at,
            audience=row.audience,
            kind=row.kind,
            actor=row.actor,
            case_number=row.case_number,
            evidence_id=row.evidence_id,
            reason=row.reason,
            audit_seq=int(row.audit_seq),
        )

    def add(
        self,
        *,
        at: str,
        audience: str,
        kind: str,
        actor: str,
        case_number: str | None,
        evidence_id: str | None,
        reason: str | None,
        audit_seq: int,
    ) -> None:
        self._conn.execute(
            insert(t.alerts).values(
                at=at,
                audience=audience,
                kind=kind,
                actor=actor,
                case_number=case_number,
                evidence_id=evidence_id,
                reason=reason,
                audit_seq=audit_seq,
            )
        )

    def list(self) -> list[Alert]:
        """Every alert, oldest first (readers are filtered by authorization)."""
        rows = self._conn.execute(select(t.alerts).order_by(t.alerts.c.id)).all()
        return [self._alert(r) for r in rows]
