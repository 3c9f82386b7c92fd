"""Vault users (``/api/v1/users``): as ``custodes user list``, ``user add`` and
``user password``.

A new user gets a first password from an admin (as on the command line) and enrols a
second factor at the first sign-in; there is no enrolment link. Changing a role and
disabling a user are not use cases of the vault yet (neither has a CLI command).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field

from custodes.core.authz import Role
from custodes.services import auth as auth_svc
from custodes.services import users as user_svc
from custodes.web.deps import Caller
from custodes.web.routes.render import Body, Limit, Offset, PathId, json, page

router = APIRouter(tags=["users"])


class NewUser(Body):
    username: str = Field(max_length=64, description="1-64 of a-z, 0-9, '.', '_', '-'.")
    role: Role
    password: str | None = Field(
        default=None,
        max_length=1024,
        description="A first password (12+ characters) to hand over; the user enrols a "
        "second factor at the first sign-in. None: the user cannot sign in until one is set.",
    )


class NewPassword(Body):
    password: str = Field(max_length=1024, description="12+ characters.")


class UserAddedOut(Body):
    username: str
    role: Role


class PasswordSetOut(Body):
    username: str


@router.get("/users", response_model=list[user_svc.UserView])
def list_users(caller: Caller, offset: Offset = 0, limit: Limit = 100) -> JSONResponse:
    """Every vault user with role and state (admins), as ``custodes user list``."""
    return page(user_svc.list_users(caller.ctx, caller.username), offset, limit)


@router.post("/users", status_code=201, response_model=UserAddedOut)
def add_user(body: NewUser, caller: Caller) -> JSONResponse:
    """Add a user with a role (admins), as ``custodes user add [--password-stdin]``."""
    out = user_svc.add_user(
        caller.ctx, caller.username, body.username, body.role.value, body.password
    )
    return json(out, 201)


@router.put("/users/{username}/password", response_model=PasswordSetOut)
def set_password(username: PathId, body: NewPassword, caller: Caller) -> JSONResponse:
    """Set a user's password (yours; an admin: anyone's), on record as ``password-set``,
    as ``custodes user password``."""
    auth_svc.set_password(caller.ctx, caller.username, username, body.password)
    return json({"username": username})
