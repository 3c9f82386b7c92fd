"""Release requests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from custodes.core.errors import NotFound
from custodes.core.records import Case, Request, TimeSpan
from custodes.storage import tables as t


def _date(text: str | None) -> date | None:
    return None if not text else date.fromisoformat(text[:10])


class RequestRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @staticmethod
    def _query() -> Any:
        return select(t.requests, t.cases.c.number.label("case_number")).join(
            t.cases, t.cases.c.id == t.requests.c.case_id
        )

    @staticmethod
    def _request(row: Any) -> Request:
        received = _date(row.received_at)
        due = _date(row.due)
        assert received is not None and due is not None
        return Request(
            id=row.id,
            case_id=int(row.case_id),
            case_number=row.case_number,
            requester=row.requester,
            kind=row.kind,
            received_at=received,
            evidence=tuple(json.loads(row.evidence)),
            ranges=tuple((float(a), float(b)) for a, b in json.loads(row.ranges)),
            misconduct_complaint=bool(row.misconduct_complaint),
            allegation_on=_date(row.allegation_on),
            incident_on=_date(row.incident_on),
            critical_incident=bool(row.critical_incident),
            due=due,
            actor=row.actor,
            created_at=row.created_at,
        )

    def find(self, request_id: str) -> Request | None:
        row = self._conn.execute(self._query().where(t.requests.c.id == request_id)).first()
        return None if row is None else self._request(row)

    def get(self, request_id: str) -> Request:
        found = self.find(request_id)
        if found is None:
            raise NotFound(f"no request '{request_id}'")
        return found

    def list(self, case: Case | None = None) -> list[Request]:
        """Requests (of ``case``, when given), the soonest due first."""
        query = self._query()
        if case is not None:
            query = query.where(t.requests.c.case_id == case.id)
        rows = self._conn.execute(query.order_by(t.requests.c.due, t.requests.c.id)).all()
        return [self._request(r) for r in rows]

    def add(
        self,
        request_id: str,
        case: Case,
        *,
        requester: str,
        kind: str,
        received_at: date,
        evidence: Sequence[str],
        ranges: Sequence[TimeSpan],
        misconduct_complaint: bool,
        allegation_on: date | None,
        incident_on: date | None,
        critical_incident: bool,
        due: date,
        actor: str,
        created_at: str,
    ) -> Request:
        self._conn.execute(
            insert(t.requests).values(
                id=request_id,
                case_id=case.id,
                requester=requester,
                kind=kind,
                received_at=received_at.isoformat(),
                evidence=json.dumps(list(evidence)),
                ranges=json.dumps([[a, b] for a, b in ranges]),
                misconduct_complaint=misconduct_complaint,
                allegation_on=allegation_on.isoformat() if allegation_on else None,
                incident_on=incident_on.isoformat() if incident_on else None,
                critical_incident=critical_incident,
                due=due.isoformat(),
                actor=actor,
                created_at=created_at,
            )
        )
        return self.get(request_id)
