"""People: vault users and their roles."""

from __future__ import annotations

import re
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import insert, select

from custodes.core.authz import Permission, parse_role
from custodes.core.custody import Action
from custodes.core.errors import CustodyConflict, InvalidInput
from custodes.services import audit
from custodes.services.common import check, event, load_actor, now_iso
from custodes.services.context import Context
from custodes.storage import tables as t

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

# argon2id with the library's defaults (RFC 9106 second recommended option).
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, e.g. undecodable bytes on stdin
        raise InvalidInput("the password must be valid UTF-8") from None
    if len(password) < 12:
        raise InvalidInput("a password needs at least 12 characters")
    return _hasher.hash(password)


def add_user(
    vault: Context,
    actor_name: str | None,
    username: str,
    role: str,
    password: str | None = None,
) -> dict[str, Any]:
    if not USERNAME.match(username):
        raise InvalidInput(f"invalid username '{username}': use 1-64 of a-z, 0-9, '.', '_', '-'")
    parsed_role = parse_role(role)
    password_hash = hash_password(password) if password is not None else None
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        check(vault, uow, actor, Permission.USER_ADD)
        exists = uow.conn.execute(
            select(t.users.c.id).where(t.users.c.username == username)
        ).first()
        if exists is not None:
            raise CustodyConflict(f"user '{username}' already exists")
        uow.conn.execute(
            insert(t.users).values(
                username=username,
                role=parsed_role.value,
                password_hash=password_hash,
                active=True,
                created_at=now_iso(vault),
            )
        )
        audit.record(
            uow,
            event(
                vault,
                actor.username,
                Action.USER_ADD,
                object_type="user",
                object_id=username,
                details={"role": parsed_role.value, "password": password_hash is not None},
            ),
        )
        audit.commit(uow, vault)
    return {"username": username, "role": parsed_role.value}


def list_users(vault: Context, actor_name: str | None) -> list[dict[str, Any]]:
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        check(vault, uow, actor, Permission.USER_LIST)
        rows = uow.conn.execute(select(t.users).order_by(t.users.c.username)).all()
    return [
        {"username": r.username, "role": r.role, "active": r.active, "created_at": r.created_at}
        for r in rows
    ]
