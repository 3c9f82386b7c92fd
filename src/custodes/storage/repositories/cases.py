"""Cases, their members and the reach internal affairs restored."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from custodes.core.authz import CaseFlag, CaseStatus, parse_flag, parse_status
from custodes.core.errors import NotFound
from custodes.core.records import Case, User
from custodes.storage import tables as t
from custodes.storage.repositories._base import join_flags, split_flags


class CaseRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _members(self, case_id: int) -> list[tuple[str, bool]]:
        rows = self._conn.execute(
            select(t.users.c.username, t.case_members.c.reach_restored)
            .join(t.case_members, t.case_members.c.user_id == t.users.c.id)
            .where(t.case_members.c.case_id == case_id)
        ).all()
        return [(r.username, bool(r.reach_restored)) for r in rows]

    @staticmethod
    def _case(row: Any, members: list[tuple[str, bool]]) -> Case:
        return Case(
            id=int(row.id),
            number=row.number,
            title=row.title,
            status=parse_status(row.status),
            flags=frozenset(parse_flag(f) for f in split_flags(row.flags)),
            members=frozenset(name for name, _ in members),
            created_at=row.created_at,
            restored=frozenset(name for name, restored in members if restored),
        )

    def find(self, number: str) -> Case | None:
        row = self._conn.execute(select(t.cases).where(t.cases.c.number == number)).first()
        return None if row is None else self._case(row, self._members(int(row.id)))

    def get(self, number: str) -> Case:
        case = self.find(number)
        if case is None:
            raise NotFound(f"no case '{number}'")
        return case

    def by_id(self, case_id: int) -> Case:
        row = self._conn.execute(select(t.cases).where(t.cases.c.id == case_id)).first()
        if row is None:
            raise NotFound(f"no case with id {case_id}")
        return self._case(row, self._members(case_id))

    def list(self) -> list[Case]:
        """Every case, in two queries (long listings are filtered by authorization)."""
        members: dict[int, list[tuple[str, bool]]] = {}
        query = select(
            t.case_members.c.case_id, t.users.c.username, t.case_members.c.reach_restored
        ).join(t.users, t.users.c.id == t.case_members.c.user_id)
        for m in self._conn.execute(query).all():
            members.setdefault(int(m.case_id), []).append((m.username, bool(m.reach_restored)))
        rows = self._conn.execute(select(t.cases).order_by(t.cases.c.number)).all()
        return [self._case(r, members.get(int(r.id), [])) for r in rows]

    def add(self, number: str, title: str, status: CaseStatus, created_at: str) -> Case:
        self._conn.execute(
            insert(t.cases).values(
                number=number, title=title, status=status.value, flags="", created_at=created_at
            )
        )
        return self.get(number)

    def update(
        self, case: Case, *, status: CaseStatus | None = None, flags: Iterable[CaseFlag] = ()
    ) -> Case:
        """Set the status (when given) and replace the flags."""
        values: dict[str, Any] = {"flags": join_flags(f.value for f in flags)}
        if status is not None:
            values["status"] = status.value
        self._conn.execute(update(t.cases).where(t.cases.c.id == case.id).values(**values))
        return self.by_id(case.id)

    def add_member(self, case: Case, user: User, *, reach_restored: bool = False) -> Case:
        self._conn.execute(
            insert(t.case_members).values(
                case_id=case.id, user_id=user.id, reach_restored=reach_restored
            )
        )
        return self.by_id(case.id)

    def restore_reach(self, case: Case, user: User) -> Case:
        """Mark an assigned user's reach to the case as restored."""
        self._conn.execute(
            update(t.case_members)
            .where((t.case_members.c.case_id == case.id) & (t.case_members.c.user_id == user.id))
            .values(reach_restored=True)
        )
        return self.by_id(case.id)

    def withdraw_restored_reach(self, case: Case) -> Case:
        self._conn.execute(
            update(t.case_members)
            .where(t.case_members.c.case_id == case.id)
            .values(reach_restored=False)
        )
        return self.by_id(case.id)
