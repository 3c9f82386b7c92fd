"""Vault users."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from custodes.core.authz import Role, parse_role
from custodes.core.errors import NotFound
from custodes.core.records import User
from custodes.storage import tables as t


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
