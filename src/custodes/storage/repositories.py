"""Repositories: the database read and written in the vault's own terms.

Each repository works on the unit of work's connection (so a change and its audit event
commit together) and returns frozen records from ``core.records``; no row crosses into
the services. SQLAlchemy Core serves both backends (SQLite embedded, PostgreSQL).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from custodes.core.authz import CaseFlag, CaseStatus, Role, parse_flag, parse_role, parse_status
from custodes.core.errors import NotFound
from custodes.core.media import MediaInfo
from custodes.core.records import Case, Evidence, User
from custodes.storage import tables as t

_MEDIA_FIELDS = frozenset(f.name for f in dataclasses.fields(MediaInfo))


def split_flags(text: str) -> list[str]:
    """The stored form of a set of flags: sorted, comma separated."""
    return [f for f in text.split(",") if f]


def join_flags(flags: Iterable[str]) -> str:
    return ",".join(sorted(flags))


def media_info(text: str) -> MediaInfo:
    """A stored probe result (JSON); keys this version does not know are left out."""
    data = json.loads(text)
    return MediaInfo(**{k: v for k, v in data.items() if k in _MEDIA_FIELDS})


class UserRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _user(self, row: Any) -> User:
        return User(
            id=int(row.id),
            username=row.username,
            role=parse_role(row.role),
            active=bool(row.active),
            created_at=row.created_at,
        )

    def find(self, username: str) -> User | None:
        row = self._conn.execute(select(t.users).where(t.users.c.username == username)).first()
        return None if row is None else self._user(row)

    def get(self, username: str) -> User:
        user = self.find(username)
        if user is None:
            raise NotFound(f"no user '{username}'")
        return user

    def add(self, username: str, role: Role, password_hash: str | None, created_at: str) -> User:
        self._conn.execute(
            insert(t.users).values(
                username=username,
                role=role.value,
                password_hash=password_hash,
                active=True,
                created_at=created_at,
            )
        )
        return self.get(username)

    def list(self) -> list[User]:
        rows = self._conn.execute(select(t.users).order_by(t.users.c.username)).all()
        return [self._user(r) for r in rows]


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


def select_evidence(*columns: Any) -> Any:
    """``columns`` of evidence rows with their case number and recording officer's name."""
    officer = t.users.alias("officer")
    return (
        select(*columns, t.cases.c.number.label("case_number"), officer.c.username.label("officer"))
        .join(t.cases, t.cases.c.id == t.evidence.c.case_id)
        .outerjoin(officer, officer.c.id == t.evidence.c.officer_id)
    )


class EvidenceRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @staticmethod
    def record(row: Any) -> Evidence:
        return Evidence(
            id=row.id,
            case_id=int(row.case_id),
            case_number=row.case_number,
            sha256=row.sha256,
            size=int(row.size),
            officer=row.officer,
            device=row.device,
            recorded_at=row.recorded_at,
            ingested_at=row.ingested_at,
            original_name=row.original_name,
            media=media_info(row.media),
        )

    def find(self, evidence_id: str) -> Evidence | None:
        row = self._conn.execute(
            select_evidence(t.evidence).where(t.evidence.c.id == evidence_id)
        ).first()
        return None if row is None else self.record(row)

    def get(self, evidence_id: str) -> Evidence:
        ev = self.find(evidence_id)
        if ev is None:
            raise NotFound(f"no evidence '{evidence_id}'")
        return ev

    def with_hash(self, sha256: str) -> Evidence | None:
        row = self._conn.execute(
            select_evidence(t.evidence).where(t.evidence.c.sha256 == sha256)
        ).first()
        return None if row is None else self.record(row)

    def list(self, case: Case | None = None) -> list[Evidence]:
        query = select_evidence(t.evidence)
        if case is not None:
            query = query.where(t.evidence.c.case_id == case.id)
        rows = self._conn.execute(query.order_by(t.evidence.c.ingested_at, t.evidence.c.id))
        return [self.record(r) for r in rows]
