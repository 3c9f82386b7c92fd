"""People: vault users and their roles."""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher

from custodes.core.authz import Permission, Role, parse_role
from custodes.core.custody import Action
from custodes.core.errors import CustodyConflict, InvalidInput
from custodes.core.ledger import stored_digest
from custodes.services.common import now_iso
from custodes.services.context import Context
from custodes.services.usecase import acting


@dataclass(frozen=True)
class UserAdded:
    username: str
    role: Role


@dataclass(frozen=True)
class UserView:
    username: str
    role: Role
    active: bool
    created_at: str


USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

# argon2id with the library's defaults (RFC 9106 second recommended option).
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, e.g. undecodable bytes on stdin
        raise InvalidInput("the password must be valid UTF-8", field="password") from None
    if len(password) < 12:
        raise InvalidInput("a password needs at least 12 characters", field="password")
    return _hasher.hash(password)


def add_user(
    vault: Context,
    actor_name: str | None,
    username: str,
    role: str,
    password: str | None = None,
) -> UserAdded:
    if not USERNAME.match(username):
        raise InvalidInput(
            f"invalid username '{username}': use 1-64 of a-z, 0-9, '.', '_', '-'",
            field="username",
        )
    parsed_role = parse_role(role)
    password_hash = hash_password(password) if password is not None else None
    with acting(vault, actor_name) as uc:
        uc.allow(Permission.USER_ADD)
        if uc.uow.users.find(username) is not None:
            raise CustodyConflict(f"user '{username}' already exists")
        uc.uow.users.add(username, parsed_role, password_hash, now_iso(vault))
        uc.record(
            Action.USER_ADD,
            object_type="user",
            object_id=username,
            details={
                "role": parsed_role.value,
                "password": password_hash is not None,
                # binds users.password_hash (issue 22): the SHA-256 of the stored hash
                "password_digest": None if password_hash is None else stored_digest(password_hash),
            },
        )
        uc.commit()
    return UserAdded(username, parsed_role)


def list_users(vault: Context, actor_name: str | None) -> list[UserView]:
    with acting(vault, actor_name) as uc:
        uc.allow(Permission.USER_LIST)
        return [UserView(u.username, u.role, u.active, u.created_at) for u in uc.uow.users.list()]
