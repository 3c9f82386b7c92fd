"""The tables' state of what the signed log vouches for (``core.ledger``), read whole so
that ``verify`` can name every row that disagrees with the log."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from custodes.core.ledger import CaseState, EvidenceState, ExportState, UserState, VaultState
from custodes.storage import tables as t
from custodes.storage.repositories._base import split_flags


class StateRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def snapshot(self) -> VaultState:
        state = VaultState()
        conn = self._conn
        for u in conn.execute(select(t.users.c.username, t.users.c.role)):
            state.users[u.username] = UserState(u.username, u.role)
        members: dict[int, list[tuple[str, bool]]] = {}
        query = select(
            t.case_members.c.case_id, t.users.c.username, t.case_members.c.reach_restored
        ).join(t.users, t.users.c.id == t.case_members.c.user_id)
        for m in conn.execute(query):
            members.setdefault(int(m.case_id), []).append((m.username, bool(m.reach_restored)))
        numbers: dict[int, str] = {}
        for c in conn.execute(select(t.cases)):
            on = members.get(int(c.id), [])
            numbers[int(c.id)] = c.number
            state.cases[c.number] = CaseState(
                c.number,
                c.title,
                c.status,
                frozenset(split_flags(c.flags)),
                frozenset(name for name, _ in on),
                frozenset(name for name, restored in on if restored),
            )
        flags: dict[str, set[str]] = {}
        for f in conn.execute(select(t.evidence_flags)):
            flags.setdefault(f.evidence_id, set()).add(f.flag)
        officer = t.users.alias("officer")
        evidence = select(
            t.evidence.c.id,
            t.evidence.c.case_id,
            t.evidence.c.sha256,
            t.evidence.c.size,
            officer.c.username.label("officer"),
        ).outerjoin(officer, officer.c.id == t.evidence.c.officer_id)
        for e in conn.execute(evidence):
            state.evidence[e.id] = EvidenceState(
                e.id,
                numbers.get(int(e.case_id), f"(case id {e.case_id})"),
                e.sha256,
                int(e.size),
                e.officer,
                frozenset(flags.get(e.id, ())),
            )
        for x in conn.execute(select(t.exports)):
            state.exports[x.id] = ExportState(
                x.id,
                x.evidence_id,
                x.recipient,
                x.purpose,
                float(x.start_s),
                float(x.end_s),
                x.output_sha256,
                int(x.key_version),
            )
        return state
