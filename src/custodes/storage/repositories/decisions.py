"""Decisions recorded on release requests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from custodes.core.errors import NotFound
from custodes.core.jsontext import JSONObject
from custodes.core.records import RecordedDecision
from custodes.storage import tables as t
from custodes.storage.repositories._json import dumps, json_object


class DecisionRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @staticmethod
    def _decision(row: Any) -> RecordedDecision:
        return RecordedDecision(
            id=row.id,
            request_id=row.request_id,
            decided_at=row.decided_at,
            decider=row.decider,
            outcome=row.outcome,
            proposed_outcome=row.proposed_outcome,
            override_reason=row.override_reason,
            pack_name=row.pack_name,
            pack_sha256=row.pack_sha256,
            facts=json_object(row.facts),
            document=json_object(row.decision),
            audit_seq=int(row.audit_seq),
        )

    def get(self, decision_id: str) -> RecordedDecision:
        row = self._conn.execute(select(t.decisions).where(t.decisions.c.id == decision_id)).first()
        if row is None:
            raise NotFound(f"no decision '{decision_id}'")
        return self._decision(row)

    def latest(self, request_id: str) -> RecordedDecision | None:
        """The decision that stands on the request: the last one recorded."""
        row = self._conn.execute(
            select(t.decisions)
            .where(t.decisions.c.request_id == request_id)
            .order_by(t.decisions.c.decided_at.desc())
            .limit(1)
        ).first()
        return None if row is None else self._decision(row)

    def of_request(self, request_id: str) -> list[RecordedDecision]:
        """Every decision recorded on the request, the first first."""
        rows = self._conn.execute(
            select(t.decisions)
            .where(t.decisions.c.request_id == request_id)
            .order_by(t.decisions.c.decided_at)
        ).all()
        return [self._decision(r) for r in rows]

    def add(
        self,
        decision_id: str,
        request_id: str,
        *,
        decided_at: str,
        decider: str,
        outcome: str,
        proposed_outcome: str,
        override_reason: str | None,
        pack_name: str,
        pack_sha256: str,
        facts: JSONObject,
        document: JSONObject,
        audit_seq: int,
    ) -> RecordedDecision:
        self._conn.execute(
            insert(t.decisions).values(
                id=decision_id,
                request_id=request_id,
                decided_at=decided_at,
                decider=decider,
                outcome=outcome,
                proposed_outcome=proposed_outcome,
                override_reason=override_reason,
                pack_name=pack_name,
                pack_sha256=pack_sha256,
                facts=dumps(facts),
                decision=dumps(document),
                audit_seq=audit_seq,
            )
        )
        return self.get(decision_id)
