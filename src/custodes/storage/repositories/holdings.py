"""Every blob the vault keeps, by its recorded hash: what ``custodes verify`` re-hashes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from custodes.core.authz import CaseFlag
from custodes.core.records import KeptBlob
from custodes.storage import tables as t


class HoldingsRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def blobs(self) -> list[KeptBlob]:
        """The originals (each with whether its case asks for a legal hold), then the
        redacted copies (a release may use them), by id."""
        ev, dv = t.evidence.c, t.derivatives.c
        originals = self._conn.execute(
            select(ev.id, ev.sha256, ev.size, t.cases.c.flags)
            .join(t.cases, t.cases.c.id == ev.case_id)
            .order_by(ev.id)
        )
        copies = self._conn.execute(select(dv.id, dv.sha256).order_by(dv.id))
        hold = CaseFlag.LEGAL_HOLD.value
        return [
            KeptBlob("evidence", r.id, r.sha256, int(r.size), hold in (r.flags or "").split(","))
            for r in originals
        ] + [KeptBlob("redacted copy", r.id, r.sha256, None) for r in copies]
