"""What a route is given: the vault, and the person behind the request, proved.

``Caller`` is a typed dependency (fastapi/full-stack-fastapi-template's ``CurrentUser``): a
route that names it never runs for an unauthenticated request. The person is proved by a
session cookie that passed its second factor, or by an API token (``Authorization:
Bearer``); the web never takes an acting user from the request itself (no ``--as``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from custodes.bootstrap import Vault
from custodes.core.errors import Unauthenticated
from custodes.services import auth as auth_svc
from custodes.services.auth import Principal
from custodes.web.security import SESSION_COOKIE


def vault_of(request: Request) -> Vault:
    vault = request.app.state.vault
    assert isinstance(vault, Vault)
    return vault


def address_of(request: Request) -> str:
    """The client's address as the connection shows it (no X-Forwarded-For is trusted)."""
    return request.client.host if request.client else "unknown"


def principal(request: Request) -> Principal:
    vault = vault_of(request)
    address = address_of(request)
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer TOKEN'")
        return auth_svc.authenticate_token(vault, token.strip(), address)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthenticated("not signed in")
    return auth_svc.resume(vault, cookie, address)


@dataclass(frozen=True)
class Acting:
    """The vault acting for a proved person: pass ``ctx`` and ``username`` to a use case."""

    ctx: Vault
    username: str
    principal: Principal


def acting(request: Request, who: Annotated[Principal, Depends(principal)]) -> Acting:
    return Acting(vault_of(request).acting_for(who.client), who.username, who)


Caller = Annotated[Acting, Depends(acting)]
VaultDep = Annotated[Vault, Depends(vault_of)]
