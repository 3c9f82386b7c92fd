"""What a route is given: the vault, and the person behind the request, proved.

``Caller`` is a typed dependency (fastapi/full-stack-fastapi-template's ``CurrentUser``): a
route that names it never runs for an unauthenticated request. The person is proved by a
session cookie that passed its second factor, or by an API token (``Authorization:
Bearer``); the web never takes an acting user from the request itself (no ``--as``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from custodes.bootstrap import IPNetwork, Vault
from custodes.core.errors import Unauthenticated
from custodes.services import auth as auth_svc
from custodes.services.auth import Principal
from custodes.web.security import SESSION_COOKIE


def vault_of(request: Request) -> Vault:
    vault = request.app.state.vault
    assert isinstance(vault, Vault)
    return vault


#: The most ``X-Forwarded-For`` entries read (a longer header is refused as a whole).
MAX_FORWARDED = 32


def client_address(peer: str | None, forwarded_for: list[str], trusted: Sequence[IPNetwork]) -> str:
    """The address to put on record for a request from ``peer`` carrying the
    ``X-Forwarded-For`` headers ``forwarded_for``.

    The header is believed only from a trusted proxy (``CUSTODES_TRUSTED_PROXIES``; none by
    default), and only as far as trusted proxies wrote it: read from the right, each entry
    a trusted proxy added is skipped, and the first one that is not trusted is the client.
    Anything left of it was written by the client and could say anything. A header that
    does not parse (not an address, too many entries) is not believed: the peer is
    recorded."""
    if peer is None:
        return "unknown"
    if not trusted or not _trusted(peer, trusted) or not forwarded_for:
        return peer
    hops = [h.strip() for header in forwarded_for for h in header.split(",")]
    if len(hops) > MAX_FORWARDED:
        return peer
    address = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # garbage (or a port, or a name): believe none of it
        address = hop
        if not _trusted(hop, trusted):
            break
    return address


def _trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in trusted)


def address_of(request: Request) -> str:
    """The client's address: the connection's, or, behind a trusted proxy, the one it
    forwarded (:func:`client_address`)."""
    trusted = getattr(request.app.state, "trusted_proxies", ())
    return client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        trusted,
    )


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
