"""Releases made from recorded decisions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from custodes.core.errors import NotFound
from custodes.core.jsontext import JSONObject
from custodes.core.records import Release
from custodes.storage import tables as t
from custodes.storage.repositories._json import dumps, json_object


class ReleaseRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @staticmethod
    def _release(row: Any) -> Release:
        return Release(
            id=row.id,
            request_id=row.request_id,
            decision_id=row.decision_id,
            created_at=row.created_at,
            actor=row.actor,
            manifest=json_object(row.manifest),
            audit_seq=int(row.audit_seq),
        )

    def get(self, release_id: str) -> Release:
        row = self._conn.execute(select(t.releases).where(t.releases.c.id == release_id)).first()
        if row is None:
            raise NotFound(f"no release '{release_id}'")
        return self._release(row)

    def of_request(self, request_id: str) -> list[Release]:
        rows = self._conn.execute(
            select(t.releases)
            .where(t.releases.c.request_id == request_id)
            .order_by(t.releases.c.created_at, t.releases.c.id)
        ).all()
        return [self._release(r) for r in rows]

    def add(
        self,
        release_id: str,
        request_id: str,
        decision_id: str,
        *,
        created_at: str,
        actor: str,
        manifest: JSONObject,
        audit_seq: int,
    ) -> Release:
        self._conn.execute(
            insert(t.releases).values(
                id=release_id,
                request_id=request_id,
                decision_id=decision_id,
                created_at=created_at,
                actor=actor,
                manifest=dumps(manifest),
                audit_seq=audit_seq,
            )
        )
        return self.get(release_id)
